import { runLoad } from './children.ts'
import type { Endpoints } from './endpoints.ts'
import type { LoadResult, LoadSpec } from './load-spec.ts'
import type { SimControl } from './sim-control.ts'

// Scenario 1: what the proxy costs over a naive client doing GET-list, merge and PATCH itself, at zero latency.
// Each concurrent worker owns one session, so the proxy never has to serialize two callers of one session:
// this measures the extra hop and the proxy's work, not its queueing (that is scenario 2).

const PLAN = [
  { concurrency: 1, count: 1_500 },
  { concurrency: 16, count: 3_000 },
  { concurrency: 64, count: 5_000 },
]
/**
 * Naive and proxy runs alternate, and each figure is the median over the rounds: other work on the machine
 * during one run then moves one round, not the result.
 */
const ROUNDS = 5

export interface Summary {
  p50Ms: number
  p99Ms: number
  throughput: number
  failed: number
}

/** CPU time per merge, in µs, by process; warm-up requests included on both sides of the division. */
export interface CpuPerMerge {
  load: number
  proxy: number
  simulator: number
  total: number
}

/** Cumulative CPU ms of the two long-running processes. */
export type CpuSampler = () => { proxy: number; simulator: number }

export interface OverheadRow {
  concurrency: number
  count: number
  naive: Summary
  proxy: Summary
  /** proxy p50 minus naive p50. */
  addedP50Ms: number
  p50Ratio: number
  p99Ratio: number
  throughputRatio: number
  cpu: { naive: CpuPerMerge; proxy: CpuPerMerge }
  rounds: { naive: LoadResult[]; proxy: LoadResult[] }
}

export async function measureOverhead(endpoints: Endpoints, sim: SimControl, sampleCpu: CpuSampler): Promise<OverheadRow[]> {
  await sim.setLatency(0)
  const rows: OverheadRow[] = []
  for (const { concurrency, count } of PLAN) {
    const sessionIds = await sim.createSessions(concurrency)
    const base = { sessionIds, count, concurrency, keys: 16, warmup: Math.round(count / 5) }
    const naiveSpec: LoadSpec = { ...base, mode: 'naive', origin: endpoints.simulatorUrl, authorization: endpoints.simulatorAuthorization }
    const proxySpec: LoadSpec = { ...base, mode: 'proxy', origin: endpoints.proxyUrl, authorization: endpoints.proxyAuthorization }
    const rounds = { naive: [] as LoadResult[], proxy: [] as LoadResult[] }
    const cpuMs = { naive: { proxy: 0, simulator: 0 }, proxy: { proxy: 0, simulator: 0 } }
    for (let round = 0; round < ROUNDS; round++) {
      const naiveFirst = round % 2 === 0
      for (const mode of naiveFirst ? (['naive', 'proxy'] as const) : (['proxy', 'naive'] as const)) {
        const before = sampleCpu()
        rounds[mode].push(await runLoad(mode === 'naive' ? naiveSpec : proxySpec))
        const after = sampleCpu()
        cpuMs[mode].proxy += after.proxy - before.proxy
        cpuMs[mode].simulator += after.simulator - before.simulator
      }
    }
    const merges = ROUNDS * (count + base.warmup)
    const perMerge = (mode: 'naive' | 'proxy'): CpuPerMerge => {
      const load = rounds[mode].reduce((sum, result) => sum + result.cpuMs, 0)
      const us = (ms: number) => (ms * 1000) / merges
      const proxy = us(cpuMs[mode].proxy)
      const simulator = us(cpuMs[mode].simulator)
      return { load: us(load), proxy, simulator, total: us(load) + proxy + simulator }
    }
    const naive = summarize(rounds.naive)
    const proxy = summarize(rounds.proxy)
    rows.push({
      concurrency,
      count,
      naive,
      proxy,
      addedP50Ms: proxy.p50Ms - naive.p50Ms,
      p50Ratio: proxy.p50Ms / naive.p50Ms,
      p99Ratio: proxy.p99Ms / naive.p99Ms,
      throughputRatio: proxy.throughput / naive.throughput,
      cpu: { naive: perMerge('naive'), proxy: perMerge('proxy') },
      rounds,
    })
  }
  return rows
}

function summarize(results: LoadResult[]): Summary {
  return {
    p50Ms: median(results.map((result) => result.p50Ms)),
    p99Ms: median(results.map((result) => result.p99Ms)),
    throughput: median(results.map((result) => result.throughput)),
    failed: results.reduce((sum, result) => sum + result.failed, 0),
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
