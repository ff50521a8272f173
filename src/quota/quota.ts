import type { Clock } from '../deadline.ts'

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

/** One wait for AiFi calls: whose (its flow), how many, and until when it is worth anything. */
export interface QuotaRequest {
  flow: string
  tokens: number
  deadlineAt: number
}

export interface FairQuotaDeps {
  clock: Clock
  /** A flow's weight (CALLER_SHARES; 1 unless configured). */
  shareOf(flow: string): number
  /** The spacing of one call at AIFI_MAX_RPS, for the estimate that refuses early. */
  intervalMs: number
  observe?: QuotaObserver
}

/** What the quota reports per flow (metrics). */
export interface QuotaObserver {
  waiting(flow: string, delta: number): void
  granted(flow: string, waitedMs: number): void
  refused(flow: string): void
}
