export type TokenBucket = ReturnType<typeof createTokenBucket>

/**
 * AiFi's rate limit (about 20 requests/second, then 503): a bucket of `rps` tokens refilled at `rps` per
 * second, starting full. `null` means unlimited.
 */
export function createTokenBucket(initialRps: number | null, now: () => number = () => performance.now()) {
  let rps = initialRps
  let tokens = rps ?? 0
  let refilledAt = now()

  return {
    setRate(nextRps: number | null): void {
      rps = nextRps
      tokens = rps ?? 0
      refilledAt = now()
    },

    /** Takes one token; false when the caller should get a 503. */
    tryTake(): boolean {
      if (rps === null) return true
      const at = now()
      tokens = Math.min(rps, tokens + ((at - refilledAt) / 1000) * rps)
      refilledAt = at
      if (tokens < 1) return false
      tokens -= 1
      return true
    },
  }
}
