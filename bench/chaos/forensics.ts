import type { SimulatorCounters } from '../../src/simulator/counters.ts'
import type { Violation } from './verdict.ts'

// Where a lost key went, from the writes AiFi received (the simulator's record of every PATCH body, in arrival
// order): which write carried it and which later write of the same session came without it.

type Writes = SimulatorCounters['patchBodies']

/** Adds to each "acknowledged but not stored" violation the writes of its session that carried and dropped its key. */
export function traceLostKeys(violations: Violation[], writes: Writes, keyOf: (requestId: string) => string | undefined): void {
  for (const violation of violations) {
    if (violation.check !== 'acknowledged but not stored' || violation.requestId === undefined) continue
    const key = keyOf(violation.requestId)
    if (key === undefined) continue
    const ofSession = writes.filter((write) => write.sessionId === violation.sessionId)
    const holds = (body: unknown) => Object.hasOwn((body as { metadata?: object }).metadata ?? {}, key)
    const carried = ofSession.findIndex((write) => holds(write.body))
    const dropped = carried === -1 ? -1 : ofSession.findIndex((write, i) => i > carried && !holds(write.body))
    violation.detail = carried === -1
      ? `no write to AiFi carried its key (of ${ofSession.length})`
      : `carried by the session's write ${carried + 1} of ${ofSession.length}, ${dropped === -1 ? 'no later write without it' : `dropped by write ${dropped + 1}`}`
  }
}

/** Sessions that AiFi saw more than one write to at once: the lock did not keep their writes apart. */
export function overlappingSessions(counters: SimulatorCounters): string[] {
  return Object.entries(counters.maxConcurrentPatches).filter(([, count]) => count > 1).map(([sessionId, count]) => `${sessionId} (${count})`)
}
