import { DEFAULT_BURST, gcraSlot } from './gcra.ts'
import type { QuotaStore } from './quota.ts'

/** One bucket for this process: the quota without REDIS_URL. */
export function createMemoryQuota(ratePerSecond: number, options: { burst?: number; now?: () => number } = {}): QuotaStore {
  const now = options.now ?? performance.now.bind(performance)
  const state = { theoreticalArrival: 0, pausedUntil: 0 }
  const burst = options.burst ?? DEFAULT_BURST
  const slot = gcraSlot(state, { intervalMs: 1000 / ratePerSecond, burst })

  return {
    burst,
    async book(tokens, maxWaitMs) {
      const { waitMs, nextArrival } = slot(tokens, now())
      if (waitMs > maxWaitMs) return { granted: false, retryAfterMs: waitMs }
      state.theoreticalArrival = nextArrival
      return { granted: true, waitMs }
    },
    async pause(ms) {
      state.pausedUntil = Math.max(state.pausedUntil, now() + ms)
    },
  }
}
