/** What went wrong with one attempt, as far as the decision to retry is concerned. */
export type Failure =
  /** fetch rejected with a TypeError (refused, reset, DNS) or the body was cut off. */
  | { kind: 'connection' }
  /** The attempt ran past `timeoutMs`. */
  | { kind: 'attempt-timeout' }
  | { kind: 'answer'; status: number; type: string; retryAfter: string | null }
  /** fetch failed in a way no retry can mend (a custom fetch's own bug, say). */
  | { kind: 'other' }

/**
 * The answers worth another attempt. Every merge carries an Idempotency-Key reused on each retry, so resending is
 * safe whatever happened to the first attempt: a landed write is replayed, never applied again. Any other 4xx says
 * nothing was written and the same request would fail the same way; 502 is a fault a retry does not mend.
 */
export const RETRYABLE_ANSWERS: ReadonlyArray<{ status: number; type?: string }> = [
  { status: 409, type: 'E_IDEMPOTENCY_IN_PROGRESS' },
  { status: 503 },
  { status: 504 },
]

export function isRetryable(failure: Failure): boolean {
  switch (failure.kind) {
    case 'connection':
    case 'attempt-timeout':
      return true
    case 'other':
      return false
    case 'answer':
      return RETRYABLE_ANSWERS.some((row) => row.status === failure.status && (row.type === undefined || row.type === failure.type))
  }
}

export interface Backoff {
  baseDelayMs: number
  maxDelayMs: number
  /** A Retry-After is honoured up to this bound, so one answer cannot park a caller for minutes. */
  maxRetryAfterMs: number
}

/** The proxy's own bounds for AiFi (src/aifi/retry.ts), so both layers back off alike. */
export const DEFAULT_BACKOFF: Backoff = { baseDelayMs: 100, maxDelayMs: 2_000, maxRetryAfterMs: 5_000 }

/** `Retry-After` in milliseconds: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when unusable. */
export function parseRetryAfterMs(value: string | null, nowMs: number): number | undefined {
  const text = value?.trim()
  if (text === undefined || text === '') return undefined
  if (/^\d+$/.test(text)) return Number(text) * 1000
  // Every HTTP-date form starts with a day name; Date.parse alone would take `-1` or `1.5` for a date.
  const date = /^[A-Za-z]{3}/.test(text) ? Date.parse(text) : Number.NaN
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs)
}

export type RetryPlan = { retry: true; waitMs: number } | { retry: false }

export interface RetryInput {
  failure: Failure
  /** Retries made so far (0 after the first attempt). */
  retriesMade: number
  retries: number
  /** Left of the call's deadline. */
  remainingMs: number
  backoff?: Backoff
  random?: () => number
  nowMs?: number
}

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): the wait is
 * uniform in [0, min(max, base * 2^n)], never shorter than a (capped) Retry-After. A wait that would end past the
 * deadline is not started: the last answer is a better error than a timeout that no attempt could have avoided.
 */
export function planRetry(input: RetryInput): RetryPlan {
  const { failure, backoff = DEFAULT_BACKOFF, random = Math.random } = input
  if (!isRetryable(failure) || input.retriesMade >= input.retries) return { retry: false }
  const ceiling = Math.min(backoff.maxDelayMs, backoff.baseDelayMs * 2 ** input.retriesMade)
  const jittered = random() * ceiling
  const retryAfter = failure.kind === 'answer' ? parseRetryAfterMs(failure.retryAfter, input.nowMs ?? Date.now()) : undefined
  const waitMs = retryAfter === undefined ? jittered : Math.max(jittered, Math.min(retryAfter, backoff.maxRetryAfterMs))
  return waitMs >= input.remainingMs ? { retry: false } : { retry: true, waitMs }
}
