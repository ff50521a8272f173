import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'
import { applyMergePatch } from '../src/merge/index.ts'
import type { JsonObject, JsonValue } from '../src/schemas.ts'
import { SESSIONS_PATH, type LoadResult, type LoadSpec } from './load-spec.ts'

// The load generator: a separate process, so its own work does not run on the proxy's event loop.
// It sends a fixed number of merges at a fixed concurrency and prints one LoadResult as JSON on stdout.

const spec = JSON.parse(process.argv[2] ?? '') as LoadSpec
const pool = new Pool(spec.origin, { connections: spec.concurrency, pipelining: 1, keepAliveTimeout: 60_000 })
const headers = { authorization: spec.authorization, 'content-type': 'application/json' }

class StatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`)
  }
}

async function call(method: 'GET' | 'PATCH', path: string, body?: unknown): Promise<string> {
  const response = await pool.request({ method, path, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await response.body.text()
  if (response.statusCode !== 200) throw new StatusError(response.statusCode)
  return text
}

async function mergeThroughProxy(sessionId: string, patch: JsonObject): Promise<void> {
  await call('PATCH', `${SESSIONS_PATH}/${encodeURIComponent(sessionId)}`, { metadata: patch })
}

/** What every service did by hand before the proxy: read through the list, merge, overwrite. */
async function mergeNaively(sessionId: string, patch: JsonObject): Promise<void> {
  const query = new URLSearchParams({ sessionToken: sessionId, count: '2' })
  const list = JSON.parse(await call('GET', `${SESSIONS_PATH}?${query}`)) as { data: Array<{ sessionId?: string; metadata?: JsonValue }> }
  const session = list.data.find((item) => item.sessionId === sessionId)
  const metadata = applyMergePatch(session?.metadata ?? {}, patch)
  await call('PATCH', `${SESSIONS_PATH}/${encodeURIComponent(sessionId)}`, { metadata })
}

const merge = spec.mode === 'proxy' ? mergeThroughProxy : mergeNaively

async function runRequests(count: number, record: (ms: number, outcome: string) => void): Promise<void> {
  let next = 0
  const worker = async (workerIndex: number) => {
    const sessionId = spec.sessionIds[workerIndex % spec.sessionIds.length]!
    for (let i = next++; i < count; i = next++) {
      const started = performance.now()
      let outcome = '200'
      try {
        await merge(sessionId, { [`k${i % spec.keys}`]: i })
      } catch (error) {
        outcome = error instanceof StatusError ? String(error.status) : 'error'
      }
      const elapsed = performance.now() - started
      record(elapsed, outcome)
      if (spec.spacingMs !== undefined && elapsed < spec.spacingMs) await sleep(spec.spacingMs - elapsed)
    }
  }
  await Promise.all(Array.from({ length: Math.min(spec.concurrency, count) }, (_, w) => worker(w)))
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

async function main(): Promise<LoadResult> {
  const cpuBefore = process.cpuUsage()
  if (spec.warmup) await runRequests(spec.warmup, () => {})
  const latencies: number[] = []
  const statuses: Record<string, number> = {}
  const started = performance.now()
  await runRequests(spec.count, (ms, outcome) => {
    latencies.push(ms)
    statuses[outcome] = (statuses[outcome] ?? 0) + 1
  })
  const wallMs = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  latencies.sort((a, b) => a - b)
  const ok = statuses['200'] ?? 0
  return {
    count: spec.count,
    ok,
    failed: spec.count - ok,
    statuses,
    wallMs,
    throughput: (ok / wallMs) * 1000,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.at(-1) ?? NaN,
    cpuMs: (cpu.user + cpu.system) / 1000,
  }
}

const result = await main()
await pool.close()
process.stdout.write(`${JSON.stringify(result)}\n`)
