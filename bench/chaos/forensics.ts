import type { SimulatorCounters } from '../../src/simulator/counters.ts'
import type { Violation } from './verdict.ts'

// Where a lost key went, from the writes AiFi received (the simulator's record of every PATCH body, in arrival
// order): which write carried it and which later write of the same session came without it.

/** Adds to each "acknowledged but not stored" violation the writes of its session that carried and dropped its key. */
export function traceLostKeys(violations: Violation[], counters: SimulatorCounters, keyOf: (requestId: string) => string | undefined): void {
  for (const violation of violations) {
    if (violation.check !== 'acknowledged but not stored' || violation.requestId === undefined) continue
    const key = keyOf(violation.requestId)
    if (key === undefined) continue
    const ofSession = counters.patchBodies.filter((write) => write.sessionId === violation.sessionId)
    // The simulator's log keeps its last 10,000 calls only: without every write of the session, no ids.
    const logged = requestIdsOfWrites(counters, violation.sessionId!)
    const sentBy = (i: number) => (logged.length === ofSession.length ? `X-Request-Id ${logged[i]}` : 'id not logged')
    const holds = (body: unknown) => Object.hasOwn((body as { metadata?: object }).metadata ?? {}, key)
    const carried = ofSession.findIndex((write) => holds(write.body))
    const dropped = carried === -1 ? -1 : ofSession.findIndex((write, i) => i > carried && !holds(write.body))
    violation.detail = carried === -1
      ? `no write to AiFi carried its key (of ${ofSession.length})`
      : `carried by the session's write ${carried + 1} of ${ofSession.length} (${sentBy(carried)}), ${dropped === -1 ? 'no later write without it' : `dropped by write ${dropped + 1} (${sentBy(dropped)})`}`
  }
}

/**
 * The X-Request-Id each PATCH of a session reached AiFi with, in arrival order, as the simulator logged them: the
 * log and the recorded bodies list the same PATCHes in the same order.
 */
function requestIdsOfWrites(counters: SimulatorCounters, sessionId: string): string[] {
  const path = `/${encodeURIComponent(sessionId)}`
  return counters.log.filter((entry) => entry.method === 'PATCH' && entry.url.split('?')[0]!.endsWith(path)).map((entry) => entry.requestId ?? 'no request id')
}

/** Sessions that AiFi saw more than one write to at once: the lock did not keep their writes apart. */
export function overlappingSessions(counters: SimulatorCounters): string[] {
  return Object.entries(counters.maxConcurrentPatches).filter(([, count]) => count > 1).map(([sessionId, count]) => `${sessionId} (${count})`)
}
