import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DEFAULT_BACKOFF, isRetryable, parseRetryAfterMs, planRetry, type Failure } from '../client/retry-plan.ts'

const answer = (status: number, type = 'E_SOMETHING', retryAfter: string | null = null): Failure => ({ kind: 'answer', status, type, retryAfter })

test('client retries connection failures, attempt timeouts, 409 in progress, 503 and 504, and nothing else', () => {
  const rows: Array<[Failure, boolean]> = [
    [{ kind: 'connection' }, true],
    [{ kind: 'attempt-timeout' }, true],
    [{ kind: 'other' }, false],
    [answer(409, 'E_IDEMPOTENCY_IN_PROGRESS'), true],
    [answer(409, 'E_SOMETHING_ELSE'), false],
    [answer(503, 'E_UPSTREAM_UNAVAILABLE'), true],
    [answer(503, 'E_UNEXPECTED_RESPONSE'), true],
    [answer(504, 'E_UPSTREAM_TIMEOUT'), true],
  ]
  for (const status of [300, 304, 400, 401, 403, 404, 405, 408, 412, 413, 415, 422, 429, 500, 501, 502]) rows.push([answer(status), false])
  for (const [failure, expected] of rows) assert.equal(isRetryable(failure), expected, JSON.stringify(failure))
})

test('client Retry-After is read as seconds or as an HTTP-date, and ignored when unusable', () => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  assert.equal(parseRetryAfterMs('2', now), 2000)
  assert.equal(parseRetryAfterMs(' 0 ', now), 0)
  assert.equal(parseRetryAfterMs('Thu, 01 Jan 2026 00:00:03 GMT', now), 3000)
  assert.equal(parseRetryAfterMs('Wed, 31 Dec 2025 23:59:00 GMT', now), 0, 'a date in the past means now')
  for (const unusable of [null, '', 'soon', '-1', '1.5']) assert.equal(parseRetryAfterMs(unusable, now), undefined, String(unusable))
})

test('client backoff is full jitter under an exponential ceiling, never shorter than a capped Retry-After', () => {
  const plan = (failure: Failure, retriesMade: number, random: number, remainingMs = 60_000) =>
    planRetry({ failure, retriesMade, retries: 30, remainingMs, random: () => random, nowMs: 0 })
  assert.deepEqual(plan({ kind: 'connection' }, 0, 0), { retry: true, waitMs: 0 })
  assert.deepEqual(plan({ kind: 'connection' }, 0, 0.5), { retry: true, waitMs: DEFAULT_BACKOFF.baseDelayMs / 2 })
  assert.deepEqual(plan({ kind: 'connection' }, 3, 0.5), { retry: true, waitMs: DEFAULT_BACKOFF.baseDelayMs * 4 })
  assert.deepEqual(plan({ kind: 'connection' }, 20, 1), { retry: true, waitMs: DEFAULT_BACKOFF.maxDelayMs })
  assert.deepEqual(plan(answer(503, 'E', '1'), 0, 0), { retry: true, waitMs: 1000 })
  assert.deepEqual(plan(answer(503, 'E', '0'), 4, 0.5), { retry: true, waitMs: 800 }, 'the jitter wins over a shorter Retry-After')
  assert.deepEqual(plan(answer(503, 'E', '3600'), 0, 0), { retry: true, waitMs: DEFAULT_BACKOFF.maxRetryAfterMs })
  assert.deepEqual(plan(answer(409, 'E_IDEMPOTENCY_IN_PROGRESS', 'Thu, 01 Jan 1970 00:00:02 GMT'), 0, 0), { retry: true, waitMs: 2000 })
})

test('client gives up when the retries are spent, or when the wait would end past the deadline', () => {
  const base = { failure: answer(503, 'E', '2'), random: () => 0, nowMs: 0 }
  assert.deepEqual(planRetry({ ...base, retriesMade: 3, retries: 3, remainingMs: 60_000 }), { retry: false })
  assert.deepEqual(planRetry({ ...base, retriesMade: 2, retries: 3, remainingMs: 60_000 }), { retry: true, waitMs: 2000 })
  assert.deepEqual(planRetry({ ...base, retriesMade: 0, retries: 3, remainingMs: 2000 }), { retry: false })
  assert.deepEqual(planRetry({ ...base, retriesMade: 0, retries: 3, remainingMs: 2001 }), { retry: true, waitMs: 2000 })
  assert.deepEqual(planRetry({ ...base, failure: answer(400), retriesMade: 0, retries: 3, remainingMs: 60_000 }), { retry: false })
})
