/** One overall time budget for a proxy request (docs/consistency.md#deadlines), shared by every wait and attempt in it. */
export interface Deadline {
  readonly expiresAt: number
  remainingMs(): number
  expired(): boolean
}

export function createDeadline(budgetMs: number, now: () => number = Date.now): Deadline {
  const expiresAt = now() + budgetMs
  return {
    expiresAt,
    remainingMs: () => Math.max(0, expiresAt - now()),
    expired: () => now() >= expiresAt,
  }
}

/** The earliest of several deadlines: a coalesced batch must finish in time for every caller in it. */
export function earliestDeadline(deadlines: Deadline[]): Deadline {
  return deadlines.reduce((earliest, next) => (next.expiresAt < earliest.expiresAt ? next : earliest))
}

/** Resolves after `ms` (at once when it is not positive). */
export function delay(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Settles like `work`, or rejects with `onTimeout()` after `ms`: for calls whose client has no bound of its own
 * (a stalled Redis keeps its socket open, so nothing else would ever end the wait).
 */
export function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), Math.max(0, ms))
  })
  return Promise.race([work, timedOut]).finally(() => clearTimeout(timer))
}

/** Time as a dependency: what waits, expires or measures takes a clock, so a test can decide what time it is. */
export interface Clock {
  /** Milliseconds on a wall clock shared with deadlines. */
  now(): number
  delay(ms: number): Promise<void>
}

export const systemClock: Clock = { now: () => Date.now(), delay }
