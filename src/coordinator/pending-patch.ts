import type { Deadline } from '../deadline.ts'
import type { Session, SessionPatchBody } from '../schemas.ts'

export interface Caller {
  /** The key's name in service mode, `forwarded` in forward mode. Logged; never a secret. */
  name: string
  /** The Authorization header sent to AiFi for this caller. */
  authorization: string
  /** Scopes Idempotency-Keys: the key's name, or a digest of the forwarded credentials. */
  scope: string
}

/** One caller's patch, from the route to its settlement. Its flag survives re-runs of the cycle. */
export interface PendingPatch {
  sessionId: string
  body: SessionPatchBody
  ifMatch: string | undefined
  caller: Caller
  requestId: string
  deadline: Deadline
  /** Bounds the wait for the session's turn: queue and lock together (LOCK_WAIT_MS). */
  turnDeadline: Deadline
  enqueuedAt: number
  /**
   * A write holding this patch was sent and may have landed: a later no-op still answers `applied`, and its
   * If-Match is not judged again.
   */
  writeAttempted: boolean
}

export type MergeResult = 'applied' | 'noop' | 'dry-run'

export interface PatchResult {
  session: Session
  etag: string
  mergeResult: MergeResult
}

export type Settlement = { ok: true; result: PatchResult } | { ok: false; error: unknown }
