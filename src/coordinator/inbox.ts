import type { PatchRecord, Settlements } from './patch-record.ts'
import type { Settlement } from './settlement.ts'
import type { LockLease } from './session-lock.ts'

/** A batch taken under a lease, in arrival order. */
export interface TakenBatch {
  patches: PatchRecord[]
  /** Patches a write under an earlier lease may have carried: their If-Match is not judged again. */
  mayHaveLanded: ReadonlySet<string>
}

export type WithdrawOutcome =
  /** Out of the inbox before anyone took it: it will never be applied. */
  | { kind: 'withdrawn' }
  /** Taken into a batch that has not been settled yet. */
  | { kind: 'taken' }
  | { kind: 'settled'; settlement: Settlement }
  /** Neither queued, taken nor settled: the inbox lost it (Redis restarted), or it was never pushed. */
  | { kind: 'gone' }
  /** Still queued, and not withdrawn for its turn: the session's holder waits for the quota, its batch to come. */
  | { kind: 'held' }

/**
 * Where patches wait for their session's write (docs/consistency.md#the-shared-inbox): this process's memory, or
 * Redis for the whole cluster. Only the holder of the session's lease takes, marks and settles.
 */
export interface Inbox<Lease extends LockLease = LockLease> {
  push(record: PatchRecord): Promise<void>
  /** A batch the last holder took and never settled first, then the oldest patches; undefined when the lease is lost. */
  take(sessionId: string, lease: Lease, maxBatch: number): Promise<TakenBatch | undefined>
  /** Right before a write: records the ids it carries, while the lease holds. False once the lease is lost. */
  markWriting(sessionId: string, lease: Lease, ids: readonly string[]): Promise<boolean>
  /** Forgets the taken batch and keeps each patch's settlement for its caller. False once the lease is lost. */
  settle(sessionId: string, lease: Lease, batch: TakenBatch, settlements: Settlements): Promise<boolean>
  /**
   * While the lease holder waits for the quota, the session's turn is held (docs/consistency.md#sharing-the-quota):
   * until `untilAt` at most, or until handed back or the batch is taken, a patch queued behind it is not
   * withdrawn for its turn.
   */
  holdTurn(sessionId: string, lease: Lease, untilAt: number): Promise<void>
  handBackTurn(sessionId: string): Promise<void>
  /** Takes the patch out of the queue, unless a batch took it; for its turn (`forTurn`), not while the turn is held. */
  withdraw(record: PatchRecord, forTurn?: boolean): Promise<WithdrawOutcome>
  /** Whether a patch, whichever process pushed it, waits queued in the session's inbox for a batch to take it. */
  hasQueued(sessionId: string): Promise<boolean>
  /** Settlements kept for these patches: what a caller whose settlement message went missing reads. */
  keptSettlements(records: readonly PatchRecord[]): Promise<Settlements>
}

/**
 * The inbox could not tell whether a step happened: the call may have run in Redis after the caller stopped
 * waiting. Only a later look (a withdraw) can say what became of the patch.
 */
export class InboxUncertainError extends Error {
  override name = 'InboxUncertainError'
}
