/**
 * A token bucket in its GCRA form (one "theoretical arrival time" instead of a token count), so reserving
 * several tokens at once is exact. Sustained traffic never exceeds the rate; after a quiet spell, up to `burst`
 * calls may go at once; nothing is let through before `pausedUntil`. The Redis quota runs the same arithmetic
 * in Lua (redis-quota.ts).
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
