/** A held turn to write one session. */
export interface LockLease {
  /** False once the lease may have passed to someone else: a write must then not be sent (SPEC §4). */
  isHeld(): boolean
  release(): Promise<void>
}

/** Serializes writers of one session across replicas. Within a process the session queue already does. */
export interface SessionLock {
  /** Resolves undefined when the lock could not be had within `maxWaitMs`. */
  acquire(sessionId: string, maxWaitMs: number): Promise<LockLease | undefined>
  /** Whether the lock's backing store answers, for /readyz. */
  isReady(): Promise<boolean>
  close(): Promise<void>
}

const heldForever: LockLease = { isHeld: () => true, release: async () => {} }

/** For a single replica: the in-process queue is the only serialization needed. */
export function createLocalLock(): SessionLock {
  return {
    acquire: async () => heldForever,
    isReady: async () => true,
    close: async () => {},
  }
}
