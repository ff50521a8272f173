import type { Answer } from './load.ts'
import type { SessionState } from './simulator.ts'

// Every answer checked against what AiFi (the simulator) finally stores, as docs/consistency.md#what-an-answer-means
// and the replicas' promise ("every failure answer tells the truth, and in time") say it must be.

/** 503s that promise the patch was not applied, and never will be. Any 4xx promises the same. */
const NOT_APPLIED = new Set(['E_COORDINATION_UNAVAILABLE', 'E_LOCK_TIMEOUT', 'E_QUOTA_EXHAUSTED', 'E_SHUTTING_DOWN'])
/** Answers after which the patch may or may not have landed: either outcome is correct. */
const MAYBE_APPLIED = new Set(['E_UPSTREAM_TIMEOUT', 'E_COORDINATION_LOST', 'E_UPSTREAM_UNAVAILABLE', 'E_UPSTREAM_BAD_RESPONSE'])

export type Claim = 'applied' | 'not applied' | 'maybe applied' | 'unexpected'

export interface Violation {
  check: string
  requestId?: string
  type?: string
  sessionId?: string
  detail?: string
  /** When the request was sent, in ms since the load began. */
  atMs?: number
  /** How long its answer took. */
  ms?: number
}

export function claimOf(answer: Answer): Claim {
  if (answer.status === null) return answer.type === 'connection dropped' && answer.replicaKilled ? 'maybe applied' : 'unexpected'
  if (answer.status >= 200 && answer.status < 300) return 'applied'
  if (answer.status >= 400 && answer.status < 500) return 'not applied'
  if (NOT_APPLIED.has(answer.type)) return 'not applied'
  if (MAYBE_APPLIED.has(answer.type)) return 'maybe applied'
  return 'unexpected'
}

export interface Verdict {
  violations: Violation[]
  /** For "maybe applied" answers: how many landed and how many did not. */
  maybe: { present: number; absent: number }
}

/** Checks each answer's key against the final state of its session, and that each answer came in time. */
export function judgeAnswers(answers: Answer[], finals: Map<string, SessionState>, inTimeMs: number): Verdict {
  const violations: Violation[] = []
  const maybe = { present: 0, absent: 0 }
  for (const answer of answers) {
    const { requestId, type, sessionId } = answer
    const atMs = Math.round(answer.atMs)
    const ms = Math.round(answer.ms)
    const present = Object.hasOwn(finals.get(sessionId)?.metadata ?? {}, answer.key)
    const claim = claimOf(answer)
    if (claim === 'applied' && !present) violations.push({ check: 'acknowledged but not stored', requestId, type, sessionId, atMs, ms })
    if (claim === 'not applied' && present) violations.push({ check: 'answered "not applied" but stored', requestId, type, sessionId, atMs, ms })
    if (claim === 'maybe applied') maybe[present ? 'present' : 'absent'] += 1
    if (claim === 'unexpected') {
      const what = answer.status === null ? `${type} from live replica-${answer.replica}` : `${answer.status} ${type}`
      violations.push({ check: 'an answer no caller should get', requestId, type, sessionId, atMs, ms, detail: `${what}, key ${present ? 'stored' : 'not stored'}` })
    }
    if (answer.status !== null && answer.ms > inTimeMs) {
      violations.push({ check: 'an answer in time', requestId, type, sessionId, atMs, ms, detail: `${Math.round(answer.ms)} ms > ${inTimeMs} ms` })
    }
  }
  return { violations, maybe }
}

export interface EventLoss {
  lostAfterCarried: Violation[]
  /** Lost events no write ever carried: overwritten inside the read-to-write window (docs/consistency.md#known-windows). */
  lostInKnownWindow: number
}

/**
 * Every event the session held at its creation or the simulator appended must still be there. An event a write
 * had already carried, and a later write dropped, was lost by a write made from a stale read: a violation. An
 * event no write ever carried was appended between some cycle's read and its write: the documented window.
 */
export function judgeEvents(
  expected: Array<{ sessionId: string; eventId: string }>,
  finals: Map<string, SessionState>,
  carriedBySomeWrite: (sessionId: string, eventId: string) => boolean,
): EventLoss {
  const lostAfterCarried: Violation[] = []
  let lostInKnownWindow = 0
  for (const { sessionId, eventId } of expected) {
    const events = finals.get(sessionId)?.metadata.events ?? []
    if (events.some((event) => event.eventId === eventId)) continue
    if (carriedBySomeWrite(sessionId, eventId)) lostAfterCarried.push({ check: 'an event lost after a write had carried it', sessionId, detail: eventId })
    else lostInKnownWindow += 1
  }
  return { lostAfterCarried, lostInKnownWindow }
}
