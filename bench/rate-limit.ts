import { runLoad } from './children.ts'
import type { Endpoints } from './endpoints.ts'
import type { SimControl } from './sim-control.ts'

// Scenario 3: AiFi answers 503 above 20 requests/second; the proxy, at its default AIFI_MAX_RPS of 20,
// must deliver every patch without ever tripping it. 200 concurrent writers, four on each of 50 sessions, each
// sending its next patch as soon as the last one is answered: patches that wait for a session coalesce.

export const AIFI_RPS = 20
const SESSIONS = 50
const PATCHES = 400
const CONCURRENCY = 200

export interface RateLimitResult {
  aifiRps: number
  sessions: number
  patches: number
  concurrency: number
  wallMs: number
  delivered: number
  patchesPerSecond: number
  /** Proxy answers other than 200, by status. */
  failures: Record<string, number>
  simulator503s: number
  upstreamRequests: number
  upstreamRps: number
}

export async function measureRateLimit(endpoints: Endpoints, sim: SimControl): Promise<RateLimitResult> {
  await sim.setLatency(0)
  const sessionIds = await sim.createSessions(SESSIONS)
  await sim.setRateLimit(AIFI_RPS)
  await sim.resetCounters()
  try {
    const result = await runLoad({
      mode: 'proxy',
      origin: endpoints.proxyUrl,
      authorization: endpoints.proxyAuthorization,
      sessionIds,
      count: PATCHES,
      concurrency: CONCURRENCY,
      keys: PATCHES,
    })
    const counters = await sim.counters()
    const upstreamRequests = Object.values(counters.requests).reduce((sum, count) => sum + count, 0)
    const failures = Object.fromEntries(Object.entries(result.statuses).filter(([status]) => status !== '200'))
    return {
      aifiRps: AIFI_RPS,
      sessions: SESSIONS,
      patches: PATCHES,
      concurrency: CONCURRENCY,
      wallMs: result.wallMs,
      delivered: result.ok,
      patchesPerSecond: result.throughput,
      failures,
      simulator503s: counters.rateLimited,
      upstreamRequests,
      upstreamRps: upstreamRequests / (result.wallMs / 1000),
    }
  } finally {
    await sim.setRateLimit(null)
  }
}
