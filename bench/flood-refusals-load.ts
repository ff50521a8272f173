import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'
import type { FloodRun, FloodSpec } from './flood-refusals-spec.ts'
import { SESSIONS_PATH } from './load-spec.ts'
import { describeRefusal } from './refusal.ts'
import { createSimControl } from './sim-control.ts'

// The flood-refusals load process: every connection opened first, unmeasured floods, then the measured floods, each
// after a pause for the quota to refill. Every patch goes to a fresh session of its own; a flood's patches are all
// sent at once, each timed from its own send to its whole answer. Prints one FloodRun per measured flood.

const spec = JSON.parse(process.argv[2] ?? '') as FloodSpec
const sim = createSimControl(spec.simulatorUrl)
const QUOTA_REFUSAL = '503 E_QUOTA_EXHAUSTED'
/** A connection per patch each proxy gets, so no patch waits in the pool for a free one and is timed from there. */
const connectionsPerProxy = Math.ceil(spec.patches / spec.origins.length)
const pools = spec.origins.map((origin) => new Pool(origin, { connections: connectionsPerProxy, pipelining: 1, keepAliveTimeout: 60_000 }))
const headers = { authorization: spec.authorization, 'content-type': 'application/json' }

interface Answer {
  ms: number
  /** `ok` for a 2xx; otherwise the status and the proxy's error type, or `error`. */
  outcome: string
  retryAfterS?: number
}

async function patch(n: number, sessionId: string): Promise<Answer> {
  const pool = pools[n % pools.length]!
  const path = `${SESSIONS_PATH}/${encodeURIComponent(sessionId)}`
  const started = performance.now()
  try {
    const response = await pool.request({ method: 'PATCH', path, headers, body: JSON.stringify({ metadata: { flood: n } }) })
    const text = await response.body.text()
    const ms = performance.now() - started
    if (response.statusCode < 300) return { ms, outcome: 'ok' }
    const retryAfter = Number(response.headers['retry-after'] ?? NaN)
    return { ms, outcome: describeRefusal(response.statusCode, text), retryAfterS: Number.isFinite(retryAfter) ? retryAfter : undefined }
  } catch {
    return { ms: performance.now() - started, outcome: 'error' }
  }
}

/** Every patch sent in one go, each to its own session, round robin over the proxies. */
const flood = (sessionIds: string[]) => Promise.all(sessionIds.map((sessionId, n) => patch(n, sessionId)))

/** As many health checks at once as the pools hold connections: none is answered before all are sent, so each opens one. */
async function openConnections(): Promise<void> {
  const checks = pools.flatMap((pool) =>
    Array.from({ length: connectionsPerProxy }, () => pool.request({ method: 'GET', path: '/healthz' }).then((response) => response.body.dump())),
  )
  await Promise.all(checks)
}

function summarize(answers: Answer[], connections: number, upstreamRequests: number, simulator503s: number): FloodRun {
  const isRefusal = (answer: Answer) => answer.outcome === QUOTA_REFUSAL && (answer.retryAfterS ?? 0) >= 1
  const accepted = answers.filter((answer) => answer.outcome === 'ok')
  const refused = answers.filter(isRefusal).map((answer) => answer.ms).sort((a, b) => a - b)
  const percentile = (p: number) => (refused.length === 0 ? NaN : refused[Math.min(refused.length - 1, Math.ceil((p / 100) * refused.length) - 1)]!)
  const retryAfterS: Record<string, number> = {}
  const failures: Record<string, number> = {}
  for (const answer of answers) {
    if (isRefusal(answer)) retryAfterS[answer.retryAfterS!] = (retryAfterS[answer.retryAfterS!] ?? 0) + 1
    else if (answer.outcome !== 'ok') {
      // The right refusal with no usable Retry-After still fails the claim: the caller is not told when to come back.
      const outcome = answer.outcome === QUOTA_REFUSAL ? `${QUOTA_REFUSAL} without Retry-After ≥ 1` : answer.outcome
      failures[outcome] = (failures[outcome] ?? 0) + 1
    }
  }
  return {
    connections,
    patches: answers.length,
    accepted: accepted.length,
    acceptedMaxMs: accepted.length === 0 ? NaN : Math.max(...accepted.map((answer) => answer.ms)),
    refused: refused.length,
    refusedP50Ms: percentile(50),
    refusedP95Ms: percentile(95),
    refusedMaxMs: refused.at(-1) ?? NaN,
    retryAfterS,
    failures,
    upstreamRequests,
    simulator503s,
  }
}

async function main(): Promise<FloodRun[]> {
  try {
    const warmupSessions = await sim.createSessions(spec.warmupFloods * spec.patches)
    const measuredSessions = await sim.createSessions(spec.measuredFloods * spec.patches)
    await openConnections()
    const floodOf = (sessions: string[], n: number) => flood(sessions.slice(n * spec.patches, (n + 1) * spec.patches))
    for (let n = 0; n < spec.warmupFloods; n++) await floodOf(warmupSessions, n)
    const runs: FloodRun[] = []
    for (let n = 0; n < spec.measuredFloods; n++) {
      // Every patch of the flood before is answered, so nothing waits for the quota any more: what is left is time to refill.
      await sleep(spec.recoveryMs)
      await sim.resetCounters()
      const connections = pools.reduce((sum, pool) => sum + pool.stats.connected, 0)
      const answers = await floodOf(measuredSessions, n)
      const counters = await sim.counters()
      const upstreamRequests = Object.values(counters.requests).reduce((sum, count) => sum + count, 0)
      runs.push(summarize(answers, connections, upstreamRequests, counters.rateLimited))
    }
    return runs
  } finally {
    await Promise.all(pools.map((pool) => pool.destroy()))
  }
}

process.stdout.write(`${JSON.stringify(await main())}\n`)
