import type { Clock } from '../deadline.ts'
import type { ProxyError } from '../errors.ts'

export type Reservation = { granted: true; waitMs: number } | { granted: false; retryAfterMs: number }

/**
 * AiFi's quota shared out between callers (docs/consistency.md#sharing-the-quota): in one process by fair-quota.ts
 * over a memory-quota.ts bucket, or for the whole cluster by the schedule in Redis (redis-quota.ts).
 */
export interface FairQuota {
  /** Waits for the request's turn and its slot; resolves with the wait in ms, or rejects with E_QUOTA_EXHAUSTED. */
  reserve(request: QuotaRequest): Promise<number>
  /**
   * The refusal before queueing (docs/consistency.md#sharing-the-quota): E_QUOTA_EXHAUSTED, counted, when the
   * request's turn cannot come in time and `needsTurnOfItsOwn` (asked only then) says nothing else would carry it;
   * otherwise undefined. Books and queues nothing.
   */
  refuseAtOnce(request: QuotaRequest, ahead: TurnsAhead): Promise<ProxyError | undefined>
  /**
   * A cycle's batch is known only at its grant: its cost moves from the flow that waited for it to the flows of
   * its patches, in proportion to their patches.
   */
  charge(paidBy: string, tokens: number, patchesByFlow: ReadonlyMap<string, number>): void
  /** AiFi answered 503 or 429: nothing more goes out for `ms`. */
  pause(ms: number): Promise<void>
  /** Redis failed: every waiter of this process is answered E_COORDINATION_UNAVAILABLE. */
  onCoordinationFault?(): void
  close(): void
}

/**
 * The outbound quota to one AiFi origin in this process (docs/consistency.md#rate-limiting): AIFI_MAX_RPS for
 * everything the proxy sends there, whoever asked and with whatever credential.
 */
export interface QuotaStore {
  /** How many calls may go at once after a quiet spell, above the steady rate. */
  readonly burst: number
  /** Books `tokens` calls and says how long until their slot; refuses, booking nothing, past `maxWaitMs`. */
  book(tokens: number, maxWaitMs: number): Promise<Reservation>
  /** AiFi answered 503 or 429: nothing more goes out for `ms`. */
  pause(ms: number): Promise<void>
}

/** What the caller of `refuseAtOnce` knows that the quota may not have heard of yet. */
export interface TurnsAhead {
  /**
   * Turns of the request's flow this process will ask for before it, not all asked for yet: patches queued here
   * for sessions whose cycle has not been granted, one per session.
   */
  turnsAhead: number
  /** Whether the request needs a turn of its own, rather than riding in a batch already queued. */
  needsTurnOfItsOwn(): Promise<boolean>
}

/**
 * Whether the turns ahead of a request, at the request's cost each, already take every call AiFi's rate allows
 * before its latest start, the burst included: then its own turn cannot come in time, whatever else waits.
 */
export function outrunByTurnsAhead(request: QuotaRequest, turnsAhead: number, rate: { intervalMs: number; burst: number }, now: number): boolean {
  const callsAhead = turnsAhead * request.tokens
  return (callsAhead - rate.burst) * rate.intervalMs > latestStart(request, rate.intervalMs) - now
}

/** One wait for AiFi calls: whose (its flow), how many, and until when it is worth anything. */
export interface QuotaRequest {
  flow: string
  tokens: number
  deadlineAt: number
}

// How long a granted call is expected to take at most, for a turn that would come just before its deadline.
const RUN_TIME_PER_CALL_MS = 50

/**
 * A turn is worth granting only if its calls can still run before the deadline: the last moment leaves each call
 * its spacing at the rate, up to RUN_TIME_PER_CALL_MS.
 */
export const latestStart = (request: QuotaRequest, intervalMs: number) => request.deadlineAt - request.tokens * Math.min(intervalMs, RUN_TIME_PER_CALL_MS)

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
