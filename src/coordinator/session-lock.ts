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
export interface SessionLock {
  /** Resolves undefined when the lock could not be had within `maxWaitMs`. */
  acquire(sessionId: string, maxWaitMs: number): Promise<LockLease | undefined>
  /** Whether the lock's backing store answers, for /readyz. */
  isReady(): Promise<boolean>
}

const heldForever: LockLease = { confirm: async () => true, release: async () => {} }

/** For a single replica: the in-process queue is the only serialization needed. */
export function createLocalLock(): SessionLock {
  return {
    acquire: async () => heldForever,
    isReady: async () => true,
  }
}
