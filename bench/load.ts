import { setMaxListeners } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'
import { applyMergePatch } from '../src/merge/index.ts'
import type { JsonObject, JsonValue } from '../src/schemas.ts'
import { SESSIONS_PATH, type LatencySummary, type LoadResult, type LoadSpec } from './load-spec.ts'

// The load generator: a separate process, so its own work does not run on the proxy's event loop.
// It sends merges at a fixed concurrency, a fixed number of them or for a fixed time, and prints one
// LoadResult as JSON on stdout.

const spec = JSON.parse(process.argv[2] ?? '') as LoadSpec
const origins = spec.origins ?? [spec.origin]
const pools = origins.map((origin) => new Pool(origin, { connections: spec.concurrency, pipelining: 1, keepAliveTimeout: 60_000 }))
const headers = { authorization: spec.authorization, 'content-type': 'application/json' }
/** Aborted when a time-boxed run's window ends: what is in flight then is abandoned, not waited for. */
const windowEnded = new AbortController()
// Every request in flight listens for the window's end: as many listeners as workers is the normal case.
setMaxListeners(0, windowEnded.signal)

class StatusError extends Error {
  constructor(
    readonly status: number,
    /** The proxy's error type (`E_...`) from its body; AiFi's own errors have none. */
    readonly type?: string,
  ) {
    super(`HTTP ${status}`)
  }

  get outcome(): string {
    return this.type === undefined ? String(this.status) : `${this.status} ${this.type}`
  }
}

function errorTypeOf(text: string): string | undefined {
  try {
    const type = (JSON.parse(text) as { type?: unknown }).type
    return typeof type === 'string' ? type : undefined
  } catch {
    return undefined
  }
}

type Call = (method: 'GET' | 'PATCH', path: string, body?: unknown) => Promise<string>

function callerThrough(pool: Pool): Call {
  return async (method, path, body) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const response = await pool.request({ method, path, headers, body: payload, signal: windowEnded.signal })
    const text = await response.body.text()
    if (response.statusCode !== 200) throw new StatusError(response.statusCode, errorTypeOf(text))
    return text
  }
}

const calls = pools.map(callerThrough)

async function mergeThroughProxy(call: Call, sessionId: string, patch: JsonObject): Promise<void> {
  await call('PATCH', `${SESSIONS_PATH}/${encodeURIComponent(sessionId)}`, { metadata: patch })
}

/** What every service did by hand before the proxy: read through the list, merge, overwrite. */
async function mergeNaively(call: Call, sessionId: string, patch: JsonObject): Promise<void> {
  const query = new URLSearchParams({ sessionToken: sessionId, count: '2' })
  const list = JSON.parse(await call('GET', `${SESSIONS_PATH}?${query}`)) as { data: Array<{ sessionId?: string; metadata?: JsonValue }> }
  const session = list.data.find((item) => item.sessionId === sessionId)
  const metadata = applyMergePatch(session?.metadata ?? {}, patch)
  await call('PATCH', `${SESSIONS_PATH}/${encodeURIComponent(sessionId)}`, { metadata })
}

const merge = spec.mode === 'proxy' ? mergeThroughProxy : mergeNaively

type Recorder = (ms: number, outcome: string, originIndex: number) => void

/** Resolves with the number of requests abandoned in flight when the window ended. */
async function runRequests(count: number, record: Recorder): Promise<number> {
  let next = 0
  let abandoned = 0
  const startedAt = performance.now()
  const worker = async (w: number) => {
    const sessionId = spec.sessionIds[w % spec.sessionIds.length]!
    const originIndex = Math.floor(w / spec.sessionIds.length) % origins.length
    for (let n = 0; ; n++) {
      if (spec.spacingMs !== undefined) {
        const wait = startedAt + (n + w / spec.concurrency) * spec.spacingMs - performance.now()
        if (wait > 0) await sleep(wait)
      }
      const i = next++
      if (i >= count || windowEnded.signal.aborted) return
      const started = performance.now()
      let outcome = '200'
      try {
        await merge(calls[originIndex]!, sessionId, { [`k${i % spec.keys}`]: i })
      } catch (error) {
        if (windowEnded.signal.aborted) {
          abandoned += 1
          return
        }
        outcome = error instanceof StatusError ? error.outcome : 'error'
      }
      record(performance.now() - started, outcome, originIndex)
    }
  }
  await Promise.all(Array.from({ length: Math.min(spec.concurrency, count) }, (_, w) => worker(w)))
  return abandoned
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

function summarize(answers: Array<{ ms: number; ok: boolean }>): LatencySummary {
  const sorted = answers.map((answer) => answer.ms).sort((a, b) => a - b)
  const ok = answers.filter((answer) => answer.ok).length
  return { count: answers.length, ok, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), maxMs: sorted.at(-1) ?? NaN }
}

async function main(): Promise<LoadResult> {
  const cpuBefore = process.cpuUsage()
  if (spec.warmup) await runRequests(spec.warmup, () => {})
  const answers = origins.map(() => [] as Array<{ ms: number; ok: boolean }>)
  const statuses: Record<string, number> = {}
  const started = performance.now()
  const windowTimer = spec.durationMs === undefined ? undefined : setTimeout(() => windowEnded.abort(), spec.durationMs)
  const abandoned = await runRequests(spec.count, (ms, outcome, originIndex) => {
    answers[originIndex]!.push({ ms, ok: outcome === '200' })
    statuses[outcome] = (statuses[outcome] ?? 0) + 1
  })
  clearTimeout(windowTimer)
  const wallMs = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  const all = summarize(answers.flat())
  return {
    count: all.count,
    ok: all.ok,
    failed: all.count - all.ok,
    statuses,
    abandoned,
    wallMs,
    throughput: (all.ok / (spec.durationMs ?? wallMs)) * 1000,
    p50Ms: all.p50Ms,
    p99Ms: all.p99Ms,
    maxMs: all.maxMs,
    byOrigin: answers.map(summarize),
    cpuMs: (cpu.user + cpu.system) / 1000,
  }
}

const result = await main()
await Promise.all(pools.map((pool) => pool.close()))
process.stdout.write(`${JSON.stringify(result)}\n`)
