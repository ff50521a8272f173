import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FAILURE_TABLE, classifyFailure, type FailureKind } from '../src/aifi/failure-table.ts'
import { DeadlineExceededError, UpstreamBadResponseError, UpstreamHttpError, UpstreamTimeoutError } from '../src/aifi/upstream-errors.ts'
import { ProxyError } from '../src/errors.ts'

const http = (status: number, retryAfter?: number) => new UpstreamHttpError('write', status, undefined, retryAfter)
const coded = (code: string) => Object.assign(new Error(code), { code })

// Every outcome an upstream call can have, with what a read does, what a write does, and what the caller gets.
const ROWS: Array<[label: string, error: unknown, kind: FailureKind, read: string, write: string, type: string, status: number]> = [
  ['attempt timeout', new UpstreamTimeoutError('read'), 'timeout', 'retry', 'rerun', 'E_UPSTREAM_TIMEOUT', 504],
  ['request deadline', new DeadlineExceededError('late'), 'timeout', 'retry', 'rerun', 'E_UPSTREAM_TIMEOUT', 504],
  ['undici headers timeout', coded('UND_ERR_HEADERS_TIMEOUT'), 'timeout', 'retry', 'rerun', 'E_UPSTREAM_TIMEOUT', 504],
  ['undici body timeout', coded('UND_ERR_BODY_TIMEOUT'), 'timeout', 'retry', 'rerun', 'E_UPSTREAM_TIMEOUT', 504],
  ['undici connect timeout', coded('UND_ERR_CONNECT_TIMEOUT'), 'timeout', 'retry', 'rerun', 'E_UPSTREAM_TIMEOUT', 504],
  ...['UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'].map(
    (code): (typeof ROWS)[number] => [code, coded(code), 'connection', 'retry', 'rerun', 'E_UPSTREAM_UNAVAILABLE', 503],
  ),
  ...[429, 503].map((status): (typeof ROWS)[number] => [`${status}`, http(status), 'throttled', 'retry', 'rerun', 'E_UPSTREAM_UNAVAILABLE', 503]),
  ...[500, 502, 504].map((status): (typeof ROWS)[number] => [`${status}`, http(status), 'unavailable', 'retry', 'rerun', 'E_UPSTREAM_UNAVAILABLE', 503]),
  ['401', http(401), 'credentials', 'fail', 'settle', 'E_UPSTREAM_AUTH', 502],
  ['403', http(403), 'credentials', 'fail', 'settle', 'E_UPSTREAM_AUTH', 502],
  ['404', http(404), 'not-found', 'fail', 'settle', 'E_SESSION_NOT_FOUND', 404],
  ['408', http(408), 'unexpected-status', 'fail', 'settle', 'E_UPSTREAM_BAD_RESPONSE', 502],
  ...[400, 405, 409, 413, 415, 422].map((status): (typeof ROWS)[number] => [`${status}`, http(status), 'rejected', 'fail', 'split', 'E_UPSTREAM_REJECTED', 422]),
  ['302', http(302), 'unexpected-status', 'fail', 'settle', 'E_UPSTREAM_BAD_RESPONSE', 502],
  ['501', http(501), 'unexpected-status', 'fail', 'settle', 'E_UPSTREAM_BAD_RESPONSE', 502],
  ['unusable answer', new UpstreamBadResponseError('read', 'not JSON'), 'bad-response', 'fail', 'settle', 'E_UPSTREAM_BAD_RESPONSE', 502],
  ['the limiter refused', new ProxyError('E_UPSTREAM_UNAVAILABLE'), 'refused', 'fail', 'settle', 'E_UPSTREAM_UNAVAILABLE', 503],
  ['a bug', new TypeError('x is undefined'), 'bug', 'fail', 'settle', 'E_INTERNAL', 500],
]

test('the failure table: every upstream outcome has one row saying what a read, a write and the caller get', () => {
  const covered = new Set<FailureKind>()
  for (const [label, error, kind, read, write, type, status] of ROWS) {
    const failure = classifyFailure(error, 'service')
    assert.deepEqual(
      { kind: failure.kind, read: failure.read, write: failure.write, type: failure.error.type, status: failure.error.statusCode },
      { kind, read, write, type, status },
      label,
    )
    covered.add(kind)
  }
  assert.deepEqual([...covered].sort(), Object.keys(FAILURE_TABLE).sort(), 'every row of the table is exercised')
})

test('the failure table: forward mode answers a refused token 401, and AiFi’s Retry-After reaches the caller and the backoff', () => {
  assert.equal(classifyFailure(http(401), 'forward').error.type, 'E_UNAUTHORIZED')
  assert.equal(classifyFailure(http(403), 'forward').error.statusCode, 401)
  const throttled = classifyFailure(http(503, 7), 'service')
  assert.equal(throttled.pause, true, 'AiFi over its rate pauses the quota')
  assert.equal(classifyFailure(http(502), 'service').pause, false)
  assert.equal(throttled.retryAfterSeconds, 7)
  assert.equal(throttled.error.headers['retry-after'], '7')
  assert.equal(classifyFailure(coded('ECONNRESET'), 'service').error.headers['retry-after'], '1', 'a default Retry-After')
  assert.equal(classifyFailure(http(503), 'service').label, '503')
  assert.equal(classifyFailure(new UpstreamTimeoutError('write'), 'service').label, 'timeout')
  assert.equal(classifyFailure(coded('ECONNRESET'), 'service').label, 'error')
})

test('the failure table: a rejection passes AiFi’s field errors on, and says which status it was when not a validation error', () => {
  const body = { message: 'Invalid', type: 'E_INVALID_BODY', errors: [{ error: 'too long', rule: 'string.max', field: 'metadata' }] }
  const rejected = classifyFailure(new UpstreamHttpError('write', 400, body, undefined), 'service').error
  assert.deepEqual(rejected.errors, body.errors)
  assert.equal(rejected.message, 'AiFi rejected the write')
  assert.equal(classifyFailure(http(413), 'service').error.message, 'AiFi rejected the write (413)')
})
