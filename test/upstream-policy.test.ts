import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseRetryAfter } from '../src/aifi/aifi-client.ts'
import { backoffMs, withRetries, type RetryPolicy } from '../src/aifi/retry.ts'
import { classifyFailure } from '../src/aifi/failure-table.ts'
import { DeadlineExceededError, UpstreamBadResponseError, UpstreamHttpError, UpstreamTimeoutError } from '../src/aifi/upstream-errors.ts'
import { createMemoryQuota } from '../src/quota/memory-quota.ts'
import { createDeadline, delay } from '../src/deadline.ts'

const policy = (random: () => number, retries = 3): RetryPolicy => ({
  retries,
  baseDelayMs: 100,
  maxDelayMs: 2_000,
  maxRetryAfterMs: 5_000,
  random,
})

test('backoff is exponential with full jitter, capped, and never shorter than a capped Retry-After', () => {
  assert.equal(backoffMs(policy(() => 0.999_999), 0, undefined) < 100, true)
  assert.equal(Math.round(backoffMs(policy(() => 1), 3, undefined)), 800)
  assert.equal(backoffMs(policy(() => 1), 10, undefined), 2_000)
  assert.equal(backoffMs(policy(() => 0), 0, undefined), 0, 'full jitter reaches zero')
  const throttled = new UpstreamHttpError('read', 503, undefined, 2)
  assert.equal(backoffMs(policy(() => 0), 0, throttled.retryAfterSeconds), 2_000)
  const slowDown = new UpstreamHttpError('read', 429, undefined, 3_600)
  assert.equal(backoffMs(policy(() => 0), 0, slowDown.retryAfterSeconds), 5_000, 'an hour-long Retry-After is capped')
})

test('withRetries retries transient failures only, at most `retries` times', async () => {
  let calls = 0
  const flaky = async () => {
    calls++
    if (calls < 3) throw new UpstreamHttpError('read', 502, undefined, undefined)
    return 'ok'
  }
  assert.equal(await withRetries(flaky, { policy: policy(() => 0), deadline: createDeadline(5_000), delay }), 'ok')
  assert.equal(calls, 3)

  calls = 0
  const refused = async () => {
    calls++
    throw new UpstreamHttpError('read', 404, undefined, undefined)
  }
  await assert.rejects(withRetries(refused, { policy: policy(() => 0), deadline: createDeadline(5_000), delay }), UpstreamHttpError)
  assert.equal(calls, 1, 'a 404 is final')

  calls = 0
  const down = async () => {
    calls++
    throw Object.assign(new Error('reset'), { code: 'ECONNRESET' })
  }
  await assert.rejects(withRetries(down, { policy: policy(() => 0, 2), deadline: createDeadline(5_000), delay }))
  assert.equal(calls, 3)
})

test('withRetries stops when the next wait would pass the deadline', async () => {
  let calls = 0
  const throttled = async () => {
    calls++
    throw new UpstreamHttpError('read', 503, undefined, 10)
  }
  await assert.rejects(withRetries(throttled, { policy: policy(() => 0), deadline: createDeadline(1_000), delay }), UpstreamHttpError)
  assert.equal(calls, 1)
  await assert.rejects(withRetries(throttled, { policy: policy(() => 0), deadline: createDeadline(0), delay }), DeadlineExceededError)
})

test('one function maps every upstream failure to its documented error, never a 500', () => {
  const cases: Array<[unknown, 'service' | 'forward', string, number]> = [
    [new UpstreamTimeoutError('read'), 'service', 'E_UPSTREAM_TIMEOUT', 504],
    [Object.assign(new Error('t'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), 'service', 'E_UPSTREAM_TIMEOUT', 504],
    [new DeadlineExceededError('late'), 'service', 'E_UPSTREAM_TIMEOUT', 504],
    [Object.assign(new Error('r'), { code: 'ECONNRESET' }), 'service', 'E_UPSTREAM_UNAVAILABLE', 503],
    [Object.assign(new Error('r'), { code: 'ECONNREFUSED' }), 'service', 'E_UPSTREAM_UNAVAILABLE', 503],
    [Object.assign(new Error('s'), { code: 'UND_ERR_SOCKET' }), 'service', 'E_UPSTREAM_UNAVAILABLE', 503],
    [new UpstreamHttpError('read', 503, undefined, undefined), 'service', 'E_UPSTREAM_UNAVAILABLE', 503],
    [new UpstreamHttpError('read', 429, undefined, 7), 'service', 'E_UPSTREAM_UNAVAILABLE', 503],
    [new UpstreamHttpError('write', 500, undefined, undefined), 'service', 'E_UPSTREAM_UNAVAILABLE', 503],
    [new UpstreamHttpError('read', 401, undefined, undefined), 'service', 'E_UPSTREAM_AUTH', 502],
    [new UpstreamHttpError('read', 403, undefined, undefined), 'service', 'E_UPSTREAM_AUTH', 502],
    [new UpstreamHttpError('read', 401, undefined, undefined), 'forward', 'E_UNAUTHORIZED', 401],
    [new UpstreamHttpError('write', 404, undefined, undefined), 'service', 'E_SESSION_NOT_FOUND', 404],
    [new UpstreamHttpError('write', 400, 'not json', undefined), 'service', 'E_UPSTREAM_REJECTED', 422],
    [new UpstreamHttpError('write', 422, undefined, undefined), 'service', 'E_UPSTREAM_REJECTED', 422],
    [new UpstreamHttpError('write', 413, undefined, undefined), 'service', 'E_UPSTREAM_REJECTED', 422],
    [new UpstreamHttpError('write', 405, undefined, undefined), 'service', 'E_UPSTREAM_REJECTED', 422],
    [new UpstreamBadResponseError('read', 'not JSON'), 'service', 'E_UPSTREAM_BAD_RESPONSE', 502],
  ]
  for (const [error, mode, type, status] of cases) {
    const mapped = classifyFailure(error, mode).error
    assert.equal(mapped?.type, type, String(error))
    assert.equal(mapped?.statusCode, status)
  }
  assert.equal(classifyFailure(new UpstreamHttpError('read', 429, undefined, 7), 'service').error.headers['retry-after'], '7')
  assert.equal(classifyFailure(new TypeError('a bug'), 'service').error.type, 'E_INTERNAL', 'bugs are not disguised as upstream faults')
})

test('Retry-After is read as seconds or as an HTTP date', () => {
  assert.equal(parseRetryAfter('3'), 3)
  assert.equal(parseRetryAfter(undefined), undefined)
  assert.equal(parseRetryAfter('soon'), undefined)
  const inTenSeconds = new Date(Date.now() + 10_000).toUTCString()
  assert.ok(Math.abs(parseRetryAfter(inTenSeconds)! - 10) <= 1)
})

test('the rate limiter spaces calls at the configured rate, reserves a cycle at once, and refuses waits past the bound', async () => {
  let now = 0
  const limiter = createMemoryQuota(20, { burst: 2, now: () => now })
  const acquire = async (tokens: number, maxWaitMs: number) => (await limiter.book(tokens, maxWaitMs)).granted
  const waitFor = async (tokens: number) => {
    const refused = await limiter.book(tokens, -1)
    return refused.granted ? 0 : Math.round(refused.retryAfterMs)
  }
  // A full bucket lets one cycle (read + write) through at once.
  assert.equal(await waitFor(1), 0)
  assert.equal(await acquire(2, 0), true)
  assert.equal(await waitFor(1), 50)
  assert.equal(await acquire(2, 10), false, 'the next cycle would wait 100 ms')
  assert.equal(await waitFor(1), 50, 'a refused call takes nothing')
  now = 100
  assert.equal(await acquire(2, 0), true)
  // Over 10 simulated seconds, no more than rate x time + burst calls are let through.
  let granted = 4
  for (now = 100; now < 10_100; now += 5) if (await acquire(1, 0)) granted++
  assert.ok(granted <= 20 * 10 + 2 + 4, `${granted} granted`)
  assert.ok(granted >= 20 * 10, `${granted} granted`)
})

test('a pause holds every reservation until it ends, then lets the rate through again', async () => {
  let now = 0
  const limiter = createMemoryQuota(20, { burst: 4, now: () => now })
  await limiter.pause(2_000)
  assert.deepEqual(await limiter.book(2, 1_000), { granted: false, retryAfterMs: 2_000 })
  now = 2_000
  assert.deepEqual(await limiter.book(2, 0), { granted: true, waitMs: 0 })
})
