import { runLoad } from './children.ts'
import type { LoadSpec } from './load-spec.ts'
import type { SimControl } from './sim-control.ts'

// Scenario 2: 200 writers patch one session at once, each adding its own key, with 20 ms on every AiFi call.

export const HOT_PATCHES = 200
export const HOT_LATENCY_MS = 20

export interface HotRun {
  wallMs: number
  upstreamReads: number
  upstreamWrites: number
  upstreamRequests: number
  /** Keys `k0`, `k1`, ... (one per patch) that a writer was told were written and that the session does not hold at the end. */
  keysLost: number
  failed: number
  eventsKept: boolean
  /** The most PATCHes AiFi saw in flight for the session at once. */
  maxConcurrentPatches: number
}

/** Where merges go and how: `origins` spreads them over replicas (scenario 6). */
export type Client = Pick<LoadSpec, 'mode' | 'origin' | 'origins' | 'authorization'>

/** One burst of concurrent merges (200 unless said) against a fresh session. */
export async function runHotSession(client: Client, sim: SimControl, patches = HOT_PATCHES): Promise<HotRun> {
  await sim.setLatency(HOT_LATENCY_MS)
  const sessionId = await sim.createSession()
  const eventsBefore = JSON.stringify((await sim.metadataOf(sessionId)).events)
  await sim.resetCounters()
  const result = await runLoad({ ...client, sessionIds: [sessionId], count: patches, concurrency: patches, keys: patches })
  const counters = await sim.counters()
  const metadata = await sim.metadataOf(sessionId)
  const callsOf = (method: string) =>
    Object.entries(counters.requests)
      .filter(([key]) => key.startsWith(`${method} `))
      .reduce((sum, [, count]) => sum + count, 0)
  const upstreamReads = callsOf('GET')
  const upstreamWrites = callsOf('PATCH')
  return {
    wallMs: result.wallMs,
    upstreamReads,
    upstreamWrites,
    upstreamRequests: upstreamReads + upstreamWrites,
    keysLost: Array.from({ length: patches }, (_, i) => metadata[`k${i}`] === i).filter((kept) => !kept).length,
    failed: result.failed,
    eventsKept: JSON.stringify(metadata.events) === eventsBefore,
    maxConcurrentPatches: counters.maxConcurrentPatches[sessionId] ?? 0,
  }
}

/**
 * The latency of one merge on its own at 20 ms per AiFi call: the median of a few sequential merges, spaced so
 * that the proxy's rate limiter (two tokens per cycle) never makes one wait for the previous one.
 */
export async function measureSingleMerge(client: Client, sim: SimControl): Promise<number> {
  await sim.setLatency(HOT_LATENCY_MS)
  const sessionId = await sim.createSession()
  const result = await runLoad({ ...client, sessionIds: [sessionId], count: 7, concurrency: 1, keys: 7, warmup: 1, spacingMs: 250 })
  return result.p50Ms
}
