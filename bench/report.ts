import type { FloodRefusalsResult } from './flood-refusals.ts'
import type { HotRun } from './hot-session.ts'
import type { LargeInputsResult } from './large-inputs.ts'
import type { NoisyNeighbourResult } from './noisy-neighbour.ts'
import type { OverheadRow } from './overhead.ts'
import type { RateLimitResult } from './rate-limit.ts'
import type { ReplicasResult } from './replicas.ts'
import { describeFailures, ms, pct, row, us, type Target } from './report-format.ts'
import { floodTargets, renderFlood } from './report-flood.ts'
import { noisyTargets, renderNoisy } from './report-noisy.ts'
import { renderReplicas, replicasTargets } from './report-replicas.ts'
import { renderTracing, tracingTargets } from './report-tracing.ts'
import type { TracingCostResult } from './tracing-cost.ts'

export interface Machine {
  cpus: number
  cpuModel: string
  node: string
  platform: string
  memoryGb: number
  /** 1-minute load average before and after the run: other work on the machine skews every figure. */
  loadBefore: number
  loadAfter: number
}

/** When and where a run ran: the first line of every report. */
export interface RunInfo {
  startedAt: string
  durationS: number
  machine: Machine
}

export interface BenchResults extends RunInfo {
  overhead: { aifiMaxRps: number; rows: OverheadRow[] }
  hotSession: {
    latencyMs: number
    patches: number
    /** One merge through the proxy, alone, at the same latency: the unit of the wall-time target. */
    singleMergeMs: number
    naiveSingleMergeMs: number
    proxy: HotRun
    proxyWithoutLimiter: HotRun
    naive: HotRun
  }
  rateLimit: RateLimitResult
  memory: { peakRssMb: number; byProxy: Record<string, number> }
  largeInputs: LargeInputsResult
  replicas: ReplicasResult
  tracing: TracingCostResult
  noisyNeighbour: NoisyNeighbourResult
  floodRefusals: FloodRefusalsResult
}

export function evaluateTargets(results: BenchResults): Target[] {
  const { hotSession: hot, memory, largeInputs } = results
  const first = results.overhead.rows.find((row) => row.concurrency === 1)!
  const widest = results.overhead.rows.find((row) => row.concurrency === 64)!
  const wallBound = 10 * hot.singleMergeMs
  const worstMedian = Math.max(...largeInputs.rows.map((row) => row.medianMs))
  const worstMax = Math.max(...largeInputs.rows.map((row) => row.maxMs))
  return [
    { name: 'Hot session: keys lost', goal: '0', measured: `${hot.proxy.keysLost} (${hot.proxy.failed} failed)`, met: hot.proxy.keysLost === 0 && hot.proxy.failed === 0 },
    { name: 'Hot session: upstream requests', goal: '≤ 10 (naive: 400)', measured: `${hot.proxy.upstreamRequests}`, met: hot.proxy.upstreamRequests <= 10 },
    {
      name: 'Hot session: wall time',
      goal: `≤ 10 × single merge (${ms(hot.singleMergeMs)} ms) = ${ms(wallBound)} ms`,
      measured: `${ms(hot.proxy.wallMs)} ms`,
      met: hot.proxy.wallMs <= wallBound,
    },
    { name: 'Overhead at concurrency 1: added p50', goal: '≤ 1 ms', measured: `${ms(first.addedP50Ms)} ms`, met: first.addedP50Ms <= 1 },
    { name: 'Throughput at concurrency 64', goal: '≥ 60% of naive', measured: pct(widest.throughputRatio), met: widest.throughputRatio >= 0.6 },
    { name: 'Peak RSS of the proxy', goal: '< 150 MB', measured: `${memory.peakRssMb.toFixed(1)} MB`, met: memory.peakRssMb < 150 },
    { name: 'Rate limit: 503s from the simulator', goal: '0', measured: `${results.rateLimit.simulator503s}`, met: results.rateLimit.simulator503s === 0 },
    {
      name: 'Event-loop stall on large inputs',
      goal: `median of ${largeInputs.runs} runs ≤ ${largeInputs.targetMs} ms for every input`,
      measured: `${ms(worstMedian)} ms (longest of all runs: ${ms(worstMax)} ms)`,
      met: worstMedian <= largeInputs.targetMs,
    },
    ...replicasTargets(results.replicas),
    ...tracingTargets(results.tracing),
    ...noisyTargets(results.noisyNeighbour),
    ...floodTargets(results.floodRefusals),
  ]
}

/** The run as Markdown: readable in a terminal, and what bench/RESULTS.md is made of. */
export function renderMarkdown(results: BenchResults, targets: Target[]): string {
  const { machine: m, overhead, hotSession: hot, rateLimit: rate, memory, largeInputs: large } = results
  const hotRow = (label: string, run: HotRun) =>
    row(label, `${ms(run.wallMs)} ms`, `${run.upstreamRequests} (${run.upstreamReads} GET + ${run.upstreamWrites} PATCH)`, run.keysLost, run.failed, run.eventsKept ? 'yes' : 'NO', run.maxConcurrentPatches)
  return [
    describeRun(results),
    '',
    `### 1. Overhead (zero latency, one session per worker, AIFI_MAX_RPS=${overhead.aifiMaxRps}, median of ${overhead.rows[0]?.rounds.naive.length ?? 0} rounds)`,
    '',
    row('concurrency', 'merges/run', 'p50 naive', 'p50 proxy', 'p50 added', 'p50 ratio', 'p99 naive', 'p99 proxy', 'p99 ratio', 'merges/s naive', 'merges/s proxy', 'throughput ratio'),
    row(...Array<string>(12).fill('---')),
    ...overhead.rows.map((r) =>
      row(r.concurrency, r.count, ms(r.naive.p50Ms), ms(r.proxy.p50Ms), `+${ms(r.addedP50Ms)}`, `${r.p50Ratio.toFixed(2)}×`, ms(r.naive.p99Ms), ms(r.proxy.p99Ms),
        `${r.p99Ratio.toFixed(2)}×`, r.naive.throughput.toFixed(0), r.proxy.throughput.toFixed(0), pct(r.throughputRatio)),
    ),
    '',
    `Latencies in ms. Failed requests: ${overhead.rows.reduce((sum, r) => sum + r.naive.failed + r.proxy.failed, 0)}.`,
    '',
    'CPU time per merge, in µs (user + system, all rounds; the machine has ' + `${m.cpus} cores for all three processes):`,
    '',
    row('concurrency', 'naive: load', 'naive: simulator', 'naive: total', 'proxy: load', 'proxy: proxy', 'proxy: simulator', 'proxy: total'),
    row(...Array<string>(8).fill('---')),
    ...overhead.rows.map(({ concurrency, cpu: { naive, proxy } }) =>
      row(concurrency, us(naive.load), us(naive.simulator), us(naive.total), us(proxy.load), us(proxy.proxy), us(proxy.simulator), us(proxy.total)),
    ),
    '',
    `### 2. Hot session (${hot.patches} concurrent patches to one session, ${hot.latencyMs} ms on every AiFi call)`,
    '',
    row('client', 'wall time', 'upstream requests', 'keys lost', 'failed', 'events kept', 'max concurrent PATCHes'),
    row('---', '---', '---', '---', '---', '---', '---'),
    hotRow('proxy, default AIFI_MAX_RPS=20', hot.proxy),
    hotRow(`proxy, AIFI_MAX_RPS=${overhead.aifiMaxRps}`, hot.proxyWithoutLimiter),
    hotRow(`${hot.patches} naive clients`, hot.naive),
    '',
    `A single merge alone: ${ms(hot.singleMergeMs)} ms through the proxy, ${ms(hot.naiveSingleMergeMs)} ms naive.`,
    '',
    `### 3. AiFi's rate limit (simulator at ${rate.aifiRps} rps, proxy at its default AIFI_MAX_RPS=20)`,
    '',
    row('patches', 'sessions', 'concurrency', 'delivered', 'failed', 'wall time', 'patches/s', 'upstream requests', 'upstream rps', '503s from the simulator'),
    row(...Array<string>(10).fill('---')),
    row(rate.patches, rate.sessions, rate.concurrency, rate.delivered, describeFailures(rate.failures), `${(rate.wallMs / 1000).toFixed(1)} s`,
      rate.patchesPerSecond.toFixed(1), rate.upstreamRequests, rate.upstreamRps.toFixed(1), rate.simulator503s),
    '',
    '### 4. Memory',
    '',
    `Peak RSS of the proxy (VmHWM): **${memory.peakRssMb.toFixed(1)} MB** — ` +
      Object.entries(memory.byProxy).map(([name, mb]) => `${name}: ${mb.toFixed(1)} MB`).join('; ') + '.',
    '',
    `### 5. Event-loop stalls on large inputs (one request at a time, ${large.runs} runs each after a warm-up, ` +
      `BODY_LIMIT_BYTES=${large.bodyLimitBytes}, target ${large.targetMs} ms)`,
    '',
    row('input', 'body bytes', 'upstream metadata bytes', 'median stall', 'longest stall', 'every run', 'median request'),
    row(...Array<string>(7).fill('---')),
    ...large.rows.map((r) =>
      row(r.input, r.bodyBytes, r.upstreamBytes, `${ms(r.medianMs)} ms`, `${ms(r.maxMs)} ms`, r.stallsMs.map((stall) => stall.toFixed(0)).join(', '), `${ms(r.medianRequestMs)} ms`),
    ),
    '',
    `Stalls in ms: the longest the proxy's event loop was blocked during the request, by a monitor ticking every ${large.resolutionMs} ms.`,
    '',
    ...renderReplicas(results.replicas),
    ...renderTracing(results.tracing),
    ...renderNoisy(results.noisyNeighbour),
    ...renderFlood(results.floodRefusals),
    ...renderTargets(targets),
  ].join('\n')
}

export function describeRun({ startedAt, durationS, machine: m }: RunInfo): string {
  return `Run of ${startedAt}, ${durationS.toFixed(0)} s. Machine: ${m.cpus} cores (${m.cpuModel}), ${m.memoryGb.toFixed(0)} GB, ` +
    `Node ${m.node} on ${m.platform}; 1-minute load average ${m.loadBefore.toFixed(2)} before, ${m.loadAfter.toFixed(2)} after.`
}

export function renderTargets(targets: Target[]): string[] {
  return [
    '### Targets',
    '',
    row('target', 'goal', 'measured', 'met'),
    row('---', '---', '---', '---'),
    ...targets.map((t) => row(t.name, t.goal, t.measured, t.met ? 'met' : '**not met**')),
    '',
  ]
}
