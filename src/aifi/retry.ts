import type { Deadline } from '../deadline.ts'
import { FAILURE_TABLE, failureKind, retryAfterOf } from './failure-table.ts'
import { DeadlineExceededError } from './upstream-errors.ts'

export interface RetryPolicy {
  /** Retries after the first attempt (UPSTREAM_RETRIES). */
  retries: number
  baseDelayMs: number
  maxDelayMs: number
  /** AiFi's Retry-After is honoured up to this bound, so one answer cannot park a request for minutes. */
  maxRetryAfterMs: number
  random: () => number
}

export const defaultRetryPolicy = (retries: number): RetryPolicy => ({
  retries,
  baseDelayMs: 100,
  maxDelayMs: 2_000,
  maxRetryAfterMs: 5_000,
  random: Math.random,
})

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): the wait is
 * uniform in [0, min(max, base * 2^n)], and never shorter than a (capped) Retry-After, in seconds.
 */
export function backoffMs(policy: RetryPolicy, retryNumber: number, retryAfter: number | undefined): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retryNumber)
  const jittered = policy.random() * ceiling
  return retryAfter === undefined ? jittered : Math.max(jittered, Math.min(retryAfter * 1000, policy.maxRetryAfterMs))
}

/**
 * Runs a read until it succeeds, fails for good (by the failure table), runs out of retries, or the next wait
 * would pass the deadline. The last failure is rethrown as it is; the caller classifies it.
 */
export async function withRetries<T>(
  attempt: () => Promise<T>,
  options: { policy: RetryPolicy; deadline: Deadline; delay: (ms: number) => Promise<void>; beforeRetry?: () => Promise<void> },
): Promise<T> {
  const { policy, deadline } = options
  for (let retryNumber = 0; ; retryNumber++) {
    if (deadline.expired()) throw new DeadlineExceededError('the request deadline passed')
    try {
      return await attempt()
    } catch (error) {
      if (FAILURE_TABLE[failureKind(error)].read === 'fail' || retryNumber >= policy.retries) throw error
      const waitMs = backoffMs(policy, retryNumber, retryAfterOf(error))
      if (waitMs >= deadline.remainingMs()) throw error
      await options.delay(waitMs)
      await options.beforeRetry?.()
    }
  }
}
