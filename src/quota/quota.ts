export type Reservation = { granted: true; waitMs: number } | { granted: false; retryAfterMs: number }

/**
 * The outbound quota to one AiFi origin (docs/consistency.md#rate-limiting): AIFI_MAX_RPS for everything the proxy
 * sends there, whoever asked and with whatever credential. In this process (memory-quota.ts), or for the whole
 * cluster in Redis (redis-quota.ts). fair-quota.ts shares it out between callers.
 */
export interface QuotaStore {
  /** Books `tokens` calls and says how long until their slot; refuses, booking nothing, past `maxWaitMs`. */
  book(tokens: number, maxWaitMs: number): Promise<Reservation>
  /** AiFi answered 503 or 429: nothing more goes out for `ms`. */
  pause(ms: number): Promise<void>
}
