import type { Clock } from '../deadline.ts'
import { ProxyError } from '../errors.ts'

export type Reservation = { granted: true; waitMs: number } | { granted: false; retryAfterMs: number }

/**
 * The outbound quota to one AiFi origin (docs/consistency.md#rate-limiting): AIFI_MAX_RPS for everything the proxy
 * sends there, whoever asked and with whatever credential. In this process (memory-quota.ts), or for the whole
 * cluster in Redis (redis-quota.ts).
 */
export interface QuotaStore {
  /** Books `tokens` calls and says how long until their slot; refuses, booking nothing, past `maxWaitMs`. */
  book(tokens: number, maxWaitMs: number): Promise<Reservation>
  /** AiFi answered 503 or 429: nothing more goes out for `ms`. */
  pause(ms: number): Promise<void>
}

export type Quota = ReturnType<typeof createQuota>

/** A quota store behind the one reservation every AiFi call makes: the wait on the app's clock, a refusal as the caller's error. */
export function createQuota(store: QuotaStore, deps: { clock: Clock; onWaited?: (ms: number) => void }) {
  return {
    /** Waits for `tokens` calls' slot, or throws 503 at once when the slot is past `maxWaitMs`. */
    async reserve(tokens: number, maxWaitMs: number): Promise<number> {
      const reservation = await store.book(tokens, Math.floor(maxWaitMs))
      if (!reservation.granted) {
        throw new ProxyError('E_UPSTREAM_UNAVAILABLE', {
          message: 'The outbound rate limit to AiFi cannot fit this call before its deadline',
          retryAfterSeconds: Math.max(1, Math.ceil(reservation.retryAfterMs / 1000)),
          refusal: true,
        })
      }
      if (reservation.waitMs > 0) await deps.clock.delay(reservation.waitMs)
      deps.onWaited?.(reservation.waitMs)
      return reservation.waitMs
    },
    /** Best effort: a store that does not answer refuses the next reservation anyway. */
    pause: (ms: number) => store.pause(ms).catch(() => {}),
  }
}
