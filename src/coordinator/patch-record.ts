import type { SessionPatchBody } from '../schemas.ts'
import type { Settlement } from './settlement.ts'

/**
 * One caller's patch as the inboxes hold it (docs/consistency.md#the-merge-cycle): plain, serializable data with
 * an id, and no secret. Its times are milliseconds on the app's clock; the Redis inbox keeps them on Redis's
 * clock and converts on the way back. The caller's credentials and trace stay with its waiting caller
 * (waiting-callers.ts), in the process holding its connection.
 */
export interface PatchRecord {
  id: string
  sessionId: string
  /** The caller's name (its key's name; `forwarded` in forward mode): logged, never a secret. */
  caller: string
  /** Patches share a write only within one scope: one per key, or per forwarded token. */
  scope: string
  /** Whose share of AiFi's quota the patch's cycle is charged to (src/quota/flows.ts); never a secret. */
  flow: string
  requestId: string
  body: SessionPatchBody
  ifMatch: string | null
  receivedAt: number
  /** The patch's turn (LOCK_WAIT_MS): a patch still queued then leaves the inbox. */
  turnAt: number
  /** The request's deadline (REQUEST_DEADLINE_MS). */
  deadlineAt: number
  /** The replica holding the caller's connection, when patches are shared through Redis. */
  replica?: string
}

/** Each patch's settlement, by its id. */
export type Settlements = Map<string, Settlement>
