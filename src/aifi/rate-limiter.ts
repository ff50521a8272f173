import { delay } from '../deadline.ts'

export type Reservation = { granted: true; waitedMs: number } | { granted: false; retryAfterMs: number }

/**
 * The outbound quota to AiFi (docs/consistency.md#rate-limiting): in this process, or for the whole cluster in
 * Redis (src/redis/redis-quota.ts). `credential` is the Authorization sent to AiFi: AiFi counts per token.
 */
export interface RateLimiter {
  /**
   * Reserves `tokens` calls and waits for their slot. Refuses, taking nothing, when the slot is more than
   * `maxWaitMs` away: the caller answers 503 instead of queueing past its deadline.
   */
  reserve(tokens: number, maxWaitMs: number, credential: string): Promise<Reservation>
  /** AiFi answered 503 or 429: nothing more goes out on this credential for `ms`. */
  pause(credential: string, ms: number): Promise<void>
}

/**
 * A token bucket in its GCRA form (one "theoretical arrival time" instead of a token count), so reserving
 * several tokens at once is exact. Sustained traffic never exceeds the rate; after a quiet spell, up to `burst`
 * calls may go at once; nothing is let through before `pausedUntil`. The Redis quota runs the same arithmetic
 * in Lua (src/redis/scripts.ts).
 */
export function gcraSlot(state: { theoreticalArrival: number; pausedUntil: number }, options: { intervalMs: number; burst: number }) {
  const tolerance = Math.max(0, options.burst - 1) * options.intervalMs
  return (tokens: number, now: number) => {
    const nextArrival = Math.max(state.theoreticalArrival, now, state.pausedUntil) + tokens * options.intervalMs
    const allowedAt = Math.max(nextArrival - options.intervalMs - tolerance, state.pausedUntil)
    return { waitMs: Math.max(0, allowedAt - now), nextArrival }
  }
}

/**
 * Two read-merge-write cycles: enough that a hot session's second batch need not wait a whole cycle's spacing,
 * small enough that any one second carries at most a few calls over the rate, which a bucket-style limiter like
 * AiFi's (about 20/s, 503 above) absorbs.
 */
export const DEFAULT_BURST = 4

/** One bucket for this process: the limiter without REDIS_URL. */
export function createRateLimiter(
  ratePerSecond: number,
  burst = DEFAULT_BURST,
  now: () => number = performance.now.bind(performance),
): RateLimiter {
  const state = { theoreticalArrival: 0, pausedUntil: 0 }
  const slot = gcraSlot(state, { intervalMs: 1000 / ratePerSecond, burst })

  return {
    async reserve(tokens, maxWaitMs) {
      const { waitMs, nextArrival } = slot(tokens, now())
      if (waitMs > maxWaitMs) return { granted: false, retryAfterMs: waitMs }
      state.theoreticalArrival = nextArrival
      await delay(waitMs)
      return { granted: true, waitedMs: waitMs }
    },
    async pause(_credential, ms) {
      state.pausedUntil = Math.max(state.pausedUntil, now() + ms)
    },
  }
}
