import { setMaxListeners } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'
import { SESSIONS_PATH } from './load-spec.ts'
import { describeRefusal } from './refusal.ts'
import type { CallerPhase, FloodPhase, NoisyRun, NoisySpec } from './noisy-neighbour-spec.ts'
import { createSimControl } from './sim-control.ts'

// The noisy neighbour's load process: a checkout caller that patches on a steady beat, alone, then beside a
// backfill caller whose workers patch as fast as they are answered. Both callers live here, each on its own
// connections; the simulator's counters are reset and read here, at the flood's very edges. Prints one NoisyRun.

const spec = JSON.parse(process.argv[2] ?? '') as NoisySpec
const sim = createSimControl(spec.simulatorUrl)
/** A backfill worker told to come back later (503, 429) waits for Retry-After, at most this long. */
const MAX_BACKOFF_MS = 2_000
/** A worker refused without a Retry-After pauses this long, so a refusal never turns into a busy loop. */
const PAUSE_AFTER_FAILURE_MS = 100

interface Answer {
  ms: number
  /** `ok` for a 2xx; otherwise the status and the proxy's error type, `no answer` or `error`. */
  outcome: string
  retryAfterMs?: number
}

type Caller = ReturnType<typeof createCaller>

/** One caller's key and connections; request `n` goes to `origins[n % length]`, as a round-robin balancer sends. */
function createCaller(authorization: string, connections: number) {
  const pools = spec.origins.map((origin) => new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 }))
  const headers = { authorization, 'content-type': 'application/json' }
  let turn = 0
  return {
    async patch(sessionId: string, metadata: Record<string, number>, signal: AbortSignal): Promise<Answer> {
      const pool = pools[turn++ % pools.length]!
      const started = performance.now()
      const path = `${SESSIONS_PATH}/${encodeURIComponent(sessionId)}`
      try {
        const response = await pool.request({ method: 'PATCH', path, headers, body: JSON.stringify({ metadata }), signal })
        const text = await response.body.text()
        const ms = performance.now() - started
        if (response.statusCode < 300) return { ms, outcome: 'ok' }
        const retryAfter = Number(response.headers['retry-after'])
        return { ms, outcome: describeRefusal(response.statusCode, text), retryAfterMs: Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined }
      } catch {
        return { ms: performance.now() - started, outcome: signal.aborted ? 'no answer' : 'error' }
      }
    },
    close: () => Promise.all(pools.map((pool) => pool.destroy())),
  }
}

/**
 * The checkout caller for `durationMs`: patch `n` at `n × spacingMs`, to its sessions in turn, whatever the
 * earlier ones are doing. Resolves once every patch is answered, or `tailMs` after the phase, whichever is first.
 */
async function runCheckout(caller: Caller, durationMs: number, firstValue: number): Promise<CallerPhase> {
  const { sessionIds } = spec.checkout
  const tail = new AbortController()
  const answers: Array<Promise<Answer>> = []
  const startedAt = performance.now()
  for (let n = 0; n * spec.spacingMs < durationMs; n++) {
    const wait = startedAt + n * spec.spacingMs - performance.now()
    if (wait > 0) await sleep(wait)
    answers.push(caller.patch(sessionIds[n % sessionIds.length]!, { [`k${n % 16}`]: firstValue + n }, tail.signal))
  }
  const giveUp = setTimeout(() => tail.abort(), startedAt + durationMs + spec.tailMs - performance.now())
  const settled = await Promise.all(answers)
  clearTimeout(giveUp)
  return summarize(settled)
}

function summarize(answers: Answer[]): CallerPhase {
  const sorted = answers.map((answer) => answer.ms).sort((a, b) => a - b)
  const percentile = (p: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!)
  const failures: Record<string, number> = {}
  for (const { outcome } of answers) if (outcome !== 'ok') failures[outcome] = (failures[outcome] ?? 0) + 1
  const ok = answers.filter((answer) => answer.outcome === 'ok').length
  return { sent: answers.length, ok, failures, p50Ms: percentile(50), p95Ms: percentile(95), maxMs: sorted.at(-1) ?? NaN }
}

/** The backfill caller's workers, each on a session of its own in a closed loop, until `stop()`. */
function startBackfill(caller: Caller) {
  const { sessionIds } = spec.backfill
  const ended = new AbortController()
  // Every worker's request listens for the end: a hundred listeners is the normal case.
  setMaxListeners(0, ended.signal)
  const failures: Record<string, number> = {}
  let ok = 0
  let abandoned = 0
  const work = async (sessionId: string) => {
    for (let n = 0; ; n++) {
      const answer = await caller.patch(sessionId, { [`b${n % 16}`]: n }, ended.signal)
      if (ended.signal.aborted) {
        if (answer.outcome === 'no answer') abandoned += 1
        return
      }
      if (answer.outcome === 'ok') {
        ok += 1
        continue
      }
      failures[answer.outcome] = (failures[answer.outcome] ?? 0) + 1
      const pause = Math.min(answer.retryAfterMs ?? PAUSE_AFTER_FAILURE_MS, MAX_BACKOFF_MS)
      await sleep(pause, undefined, { signal: ended.signal }).catch(() => {})
    }
  }
  const workers = Promise.all(sessionIds.map(work))
  return {
    /** Counts what was answered so far, then aborts what is still in flight. */
    async stop(durationMs: number): Promise<FloodPhase['backfill']> {
      const delivered = ok
      const refused = { ...failures }
      ended.abort()
      await workers
      return { workers: sessionIds.length, ok: delivered, patchesPerSecond: delivered / (durationMs / 1000), failures: refused, abandoned }
    },
  }
}

async function main(): Promise<NoisyRun> {
  // An open-loop caller needs a connection for every patch it may have waiting, or the pool queues them itself.
  const checkout = createCaller(spec.checkout.authorization, Math.ceil((spec.floodMs + spec.tailMs) / spec.spacingMs))
  const backfill = createCaller(spec.backfill.authorization, spec.backfill.sessionIds.length)
  try {
    const never = new AbortController().signal
    for (let n = 0; n < spec.warmup; n++) await checkout.patch(spec.checkout.sessionIds[0]!, { warm: n }, never)
    const alone = await runCheckout(checkout, spec.aloneMs, 0)

    await sim.resetCounters()
    const floodStarted = performance.now()
    const flood = startBackfill(backfill)
    const checkoutBeside = await runCheckout(checkout, spec.floodMs, 1_000_000)
    const durationMs = performance.now() - floodStarted
    const backfillResult = await flood.stop(durationMs)
    const counters = await sim.counters()
    const upstreamRequests = Object.values(counters.requests).reduce((sum, count) => sum + count, 0)
    return {
      alone,
      flood: {
        durationMs,
        checkout: checkoutBeside,
        backfill: backfillResult,
        upstreamRequests,
        upstreamRps: upstreamRequests / (durationMs / 1000),
        simulator503s: counters.rateLimited,
      },
    }
  } finally {
    await Promise.all([checkout.close(), backfill.close()])
  }
}

process.stdout.write(`${JSON.stringify(await main())}\n`)
