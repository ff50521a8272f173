import { delay } from '../deadline.ts'

export interface RateLimiter {
  /**
   * Waits until `tokens` calls may be sent. Resolves false, taking nothing, when that wait would last longer than
   * `maxWaitMs`: the caller answers 503 instead of queueing past its deadline.
   */
  acquire(tokens: number, maxWaitMs: number): Promise<boolean>
  /** How long a call arriving now would wait for one token, for a Retry-After. */
  estimateWaitMs(): number
}

/**
 * A token bucket in its GCRA form (one "theoretical arrival time" instead of a token count), so reserving
 * several tokens at once is exact. Sustained traffic never exceeds `ratePerSecond`; after a quiet spell, up to
 * `burst` calls may go at once. The default burst is two read-merge-write cycles: enough that a hot session's
 * second batch need not wait a whole cycle's spacing, small enough that any one second carries at most a
 * few calls over the rate, which a bucket-style limiter like AiFi's (about 20/s, 503 above) absorbs.
 */
export function createRateLimiter(
  ratePerSecond: number,
  burst = 4,
  now: () => number = performance.now.bind(performance),
): RateLimiter {
  const interval = 1000 / ratePerSecond
  const tolerance = Math.max(0, burst - 1) * interval
  let theoreticalArrival = 0

  function waitFor(tokens: number): { waitMs: number; nextArrival: number } {
    const current = now()
    const nextArrival = Math.max(theoreticalArrival, current) + tokens * interval
    const allowedAt = nextArrival - interval - tolerance
    return { waitMs: Math.max(0, allowedAt - current), nextArrival }
  }

  return {
    async acquire(tokens, maxWaitMs) {
      const { waitMs, nextArrival } = waitFor(tokens)
      if (waitMs > maxWaitMs) return false
      theoreticalArrival = nextArrival
      await delay(waitMs)
      return true
    },
    estimateWaitMs: () => waitFor(1).waitMs,
  }
}
