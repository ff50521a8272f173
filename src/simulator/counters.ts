import { cloneJson } from '../merge/json-tree.ts'
import type { JsonValue } from '../schemas.ts'

const LOG_LIMIT = 10_000

export interface RequestLogEntry {
  method: string
  url: string
  status: number | null
  requestId?: string
  authorization?: boolean
  /** The W3C trace context the call carried, if any: how a test sees the trace reach "AiFi". */
  traceparent?: string
}

export interface SimulatorCounters {
  requests: Record<string, number>
  log: RequestLogEntry[]
  patchBodies: Array<{ sessionId: string; body: unknown }>
  maxConcurrentPatches: Record<string, number>
  rateLimited: number
}

export type CounterRecorder = ReturnType<typeof createCounterRecorder>

/** What the proxy did to "AiFi", for tests and benchmarks to assert on. API calls only. */
export function createCounterRecorder() {
  let counters = emptyCounters()
  const inFlightPatches = new Map<string, number>()

  return {
    /**
     * Counts a call by its raw pathname, as it came over the wire, so a test sees exactly how the proxy
     * encoded the session id. Returns the log entry, whose status is filled in when the call is answered.
     */
    recordRequest(entry: { method: string; url: string; requestId?: string; authorization: boolean; traceparent?: string }): RequestLogEntry {
      const pathname = entry.url.split('?', 1)[0] ?? entry.url
      const key = `${entry.method} ${pathname}`
      counters.requests[key] = (counters.requests[key] ?? 0) + 1
      const logged: RequestLogEntry = { method: entry.method, url: entry.url, status: null }
      if (entry.requestId !== undefined) logged.requestId = entry.requestId
      logged.authorization = entry.authorization
      if (entry.traceparent !== undefined) logged.traceparent = entry.traceparent
      counters.log.push(logged)
      if (counters.log.length > LOG_LIMIT) counters.log.splice(0, counters.log.length - LOG_LIMIT)
      return logged
    },

    recordPatchBody(sessionId: string, body: unknown): void {
      counters.patchBodies.push({ sessionId, body })
    },

    recordRateLimited(): void {
      counters.rateLimited += 1
    },

    /** Marks a PATCH in flight for a session; the returned function marks it done. */
    startPatch(sessionId: string): () => void {
      const inFlight = (inFlightPatches.get(sessionId) ?? 0) + 1
      inFlightPatches.set(sessionId, inFlight)
      counters.maxConcurrentPatches[sessionId] = Math.max(counters.maxConcurrentPatches[sessionId] ?? 0, inFlight)
      let done = false
      return () => {
        if (done) return
        done = true
        const left = (inFlightPatches.get(sessionId) ?? 1) - 1
        if (left > 0) inFlightPatches.set(sessionId, left)
        else inFlightPatches.delete(sessionId)
      }
    },

    /** Plain objects again, and a copy of every body that keeps its raw numbers (structuredClone cannot copy them). */
    snapshot(): SimulatorCounters {
      return {
        requests: { ...counters.requests },
        log: counters.log.map((entry) => ({ ...entry })),
        patchBodies: counters.patchBodies.map(({ sessionId, body }) => ({ sessionId, body: cloneJson(body as JsonValue) })),
        maxConcurrentPatches: { ...counters.maxConcurrentPatches },
        rateLimited: counters.rateLimited,
      }
    },

    // PATCHes still in flight stay tracked, so a reset in the middle of a test does not under-count them.
    reset(): void {
      counters = emptyCounters()
    },
  }
}

function emptyCounters(): SimulatorCounters {
  // Keys come from the wire (a session id may be `__proto__`), so the maps have no prototype to trip over;
  // the snapshot copies them back into plain objects.
  return {
    requests: Object.create(null) as Record<string, number>,
    log: [],
    patchBodies: [],
    maxConcurrentPatches: Object.create(null) as Record<string, number>,
    rateLimited: 0,
  }
}
