/** A held turn to write one session. */
export interface LockLease {
  /**
   * Checks with the lock's store that this lease is still ours and renews it, right before a write.
   * False once the lease may have passed to someone else: the write must then not be sent (docs/consistency.md#serialization).
   */
  confirm(): Promise<boolean>
  release(): Promise<void>
}

/** Serializes writers of one session across replicas. Within a process the session queue already does. */
export interface SessionLock<Lease extends LockLease = LockLease> {
  /**
   * Resolves undefined when the lock could not be had within `maxWaitMs`; rejects with the caller's error
   * (E_COORDINATION_UNAVAILABLE) at once when the lock's store does not answer.
   */
  acquire(sessionId: string, maxWaitMs: number): Promise<Lease | undefined>
  /** Whether the lock's backing store answers, for /readyz. */
  isReady(): Promise<boolean>
  /** Hands back every lease still held, so other replicas need not wait for them to expire. */
  releaseAll(): Promise<void>
}

const heldForever: LockLease = { confirm: async () => true, release: async () => {} }

/** For a single replica: the in-process queue is the only serialization needed. */
export function createLocalLock(): SessionLock {
  return {
    acquire: async () => heldForever,
    isReady: async () => true,
    releaseAll: async () => {},
  }
}
