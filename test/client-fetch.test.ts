import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MergeProxyError, createClient, type ClientOptions } from '../client/index.ts'

// Narrow edge cases of the client against an injected fetch that answers from a script and records every call.
// The client against the real app and simulator is in client-app.test.ts.

const API_KEY = 'caller-key-7f3a'
const SESSIONS = 'http://proxy.test/api/admin/v2/sessions'

interface Call {
  url: string
  method: string
  headers: Headers
  body: string | undefined
}
type Step = (init: RequestInit) => Response | Promise<Response>

function scriptedFetch(...steps: Step[]) {
  const calls: Call[] = []
  const fetch = async (url: string, init: RequestInit) => {
    calls.push({ url, method: init.method ?? 'GET', headers: new Headers(init.headers), body: init.body as string | undefined })
    const step = steps[Math.min(calls.length, steps.length) - 1]!
    return step(init)
  }
  return { fetch, calls }
}

const session = { sessionId: 's-1', metadata: { tier: 'gold' } }
const ok = (headers: Record<string, string> = {}): Step => () =>
  Response.json(session, { headers: { etag: '"e1"', 'x-merge-result': 'applied', 'x-request-id': 'r-ok', ...headers } })
const fails = (status: number, type: string, headers: Record<string, string> = {}, message = `failed with ${type}`): Step => () =>
  Response.json({ message, type, errors: [], requestId: `r-${status}` }, { status, headers: { 'x-request-id': `r-${status}`, ...headers } })
const refused: Step = () => {
  throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })
}
/** Never answers; rejects when the client aborts the attempt, as fetch does. */
const hangs: Step = (init) => new Promise((_, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason)))

function clientWith(fetch: ClientOptions['fetch'], options: Partial<ClientOptions> = {}) {
  return createClient({ baseUrl: 'http://proxy.test/', apiKey: API_KEY, fetch, ...options })
}

async function rejection(work: Promise<unknown>): Promise<MergeProxyError> {
  const error = await work.then(() => assert.fail('expected a rejection'), (error: unknown) => error)
  assert.ok(error instanceof MergeProxyError, String(error))
  return error
}

test('client merge sends one merge-patch PATCH with the bearer key and a fresh Idempotency-Key, and reads the answer', async () => {
  const { fetch, calls } = scriptedFetch(ok())
  const client = clientWith(fetch)
  const result = await client.merge('a/b c?#', { metadata: { tier: 'gold' } }, { ifMatch: '"e0"' })
  await client.merge('a/b c?#', { suspectedFraud: true }, { dryRun: true, idempotencyKey: 'mine-1' })

  assert.deepEqual(result, { session, etag: '"e1"', mergeResult: 'applied', requestId: 'r-ok', attempts: 1, replayed: false })
  const [first, second] = calls
  assert.equal(first!.method, 'PATCH')
  assert.equal(first!.url, `${SESSIONS}/a%2Fb%20c%3F%23`)
  assert.equal(first!.headers.get('content-type'), 'application/merge-patch+json')
  assert.equal(first!.headers.get('authorization'), `Bearer ${API_KEY}`)
  assert.equal(first!.headers.get('if-match'), '"e0"')
  assert.match(first!.headers.get('idempotency-key')!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  assert.equal(first!.body, '{"metadata":{"tier":"gold"}}')
  assert.equal(second!.url, `${SESSIONS}/a%2Fb%20c%3F%23?dryRun=true`)
  assert.equal(second!.headers.get('idempotency-key'), 'mine-1')
  assert.equal(second!.headers.get('if-match'), null)
})

test('client get reads the session and its ETag with a GET and no body', async () => {
  const { fetch, calls } = scriptedFetch(ok())
  assert.deepEqual(await clientWith(fetch).get('s-1'), { session, etag: '"e1"', requestId: 'r-ok' })
  assert.equal(calls[0]!.method, 'GET')
  assert.equal(calls[0]!.url, `${SESSIONS}/s-1`)
  assert.equal(calls[0]!.body, undefined)
  assert.equal(calls[0]!.headers.get('authorization'), `Bearer ${API_KEY}`)
})

test('client resends the same bytes under the same Idempotency-Key after 503, 504, 409 in progress and a refused connection', async () => {
  const { fetch, calls } = scriptedFetch(
    fails(503, 'E_UPSTREAM_UNAVAILABLE'),
    refused,
    fails(409, 'E_IDEMPOTENCY_IN_PROGRESS', { 'retry-after': '0' }),
    fails(504, 'E_UPSTREAM_TIMEOUT'),
    ok({ 'idempotency-replayed': 'true' }),
  )
  const result = await clientWith(fetch, { retries: 4 }).merge('s-1', { metadata: { n: 1 } })
  assert.equal(result.attempts, 5)
  assert.equal(result.replayed, true)
  assert.equal(new Set(calls.map((call) => call.headers.get('idempotency-key'))).size, 1)
  assert.deepEqual(calls.map((call) => call.body), Array(5).fill('{"metadata":{"n":1}}'))
})

test('client never retries another 4xx, and rejects with the proxy error body', async () => {
  for (const [status, type] of [
    [400, 'E_INVALID_BODY'], [401, 'E_UNAUTHORIZED'], [404, 'E_SESSION_NOT_FOUND'], [412, 'E_PRECONDITION_FAILED'],
    [415, 'E_UNSUPPORTED_MEDIA_TYPE'], [422, 'E_IDEMPOTENCY_MISMATCH'], [429, 'E_TOO_MANY'], [502, 'E_UPSTREAM_BAD_RESPONSE'],
  ] as const) {
    const errors = [{ error: 'must be true', rule: 'literal', field: '/suspectedFraud' }]
    const { fetch, calls } = scriptedFetch(() =>
      Response.json({ message: 'no', type, errors, requestId: 'r-body' }, { status, headers: { 'retry-after': '0' } }))
    const error = await rejection(clientWith(fetch).merge('s-1', { metadata: {} }, { idempotencyKey: 'k' }))
    assert.equal(calls.length, 1, `${status} is not retried`)
    assert.deepEqual(
      { status: error.status, type: error.type, message: error.message, errors: error.errors, requestId: error.requestId, attempts: error.attempts },
      { status, type, message: 'no', errors, requestId: 'r-body', attempts: 1 },
    )
    assert.equal(error.idempotencyKey, 'k')
  }
})

test('client stops after retries + 1 attempts with the last answer, and reads a non-proxy 503 as unexpected', async () => {
  const { fetch, calls } = scriptedFetch(() => new Response('<html>busy</html>', { status: 503 }))
  const error = await rejection(clientWith(fetch, { retries: 2 }).merge('s-1', {}))
  assert.equal(calls.length, 3)
  assert.deepEqual([error.status, error.type, error.attempts], [503, 'E_UNEXPECTED_RESPONSE', 3])
})

test('client honours Retry-After before the next attempt', async () => {
  const sentAt: number[] = []
  const { fetch } = scriptedFetch(
    (init) => (sentAt.push(performance.now()), fails(503, 'E_LOCK_TIMEOUT', { 'retry-after': '1' })(init)),
    (init) => (sentAt.push(performance.now()), ok()(init)),
  )
  await clientWith(fetch).merge('s-1', {})
  assert.ok(sentAt[1]! - sentAt[0]! >= 990, `waited ${sentAt[1]! - sentAt[0]!} ms`)
})

test('client does not start a Retry-After wait that would end past the deadline, seconds or HTTP-date', async () => {
  const inAMinute = new Date(Date.now() + 60_000).toUTCString()
  for (const retryAfter of ['4', inAMinute]) {
    const { fetch, calls } = scriptedFetch(fails(503, 'E_UPSTREAM_UNAVAILABLE', { 'retry-after': retryAfter }), ok())
    const error = await rejection(clientWith(fetch, { deadlineMs: 3_000 }).merge('s-1', {}))
    assert.equal(calls.length, 1)
    assert.deepEqual([error.status, error.type], [503, 'E_UPSTREAM_UNAVAILABLE'], 'the answer, not a timeout')
  }
})

test('client retries an attempt that times out, then rejects with E_CLIENT_TIMEOUT and the key to retry with', async () => {
  const { fetch, calls } = scriptedFetch(hangs)
  const error = await rejection(clientWith(fetch, { timeoutMs: 50, retries: 2 }).merge('s-1', {}))
  assert.equal(calls.length, 3)
  assert.deepEqual([error.status, error.type, error.attempts], [0, 'E_CLIENT_TIMEOUT', 3])
  assert.equal(error.idempotencyKey, calls[0]!.headers.get('idempotency-key'))
})

test('client attempt timeout covers a body that never ends, even from a fetch that ignores the signal', async () => {
  const stalled: Step = () => new Response(new ReadableStream({ start: (controller) => controller.enqueue(new TextEncoder().encode('{')) }), {
    headers: { etag: '"e1"', 'x-merge-result': 'applied' },
  })
  const { fetch, calls } = scriptedFetch(stalled, ok())
  const result = await clientWith(fetch, { timeoutMs: 100 }).merge('s-1', {})
  assert.equal(calls.length, 2)
  assert.equal(result.attempts, 2)
})

test('client deadline ends a hung attempt with E_CLIENT_TIMEOUT, and a caller signal ends a wait with E_CLIENT_ABORTED', async () => {
  const hung = scriptedFetch(hangs)
  const timedOut = await rejection(clientWith(hung.fetch, { deadlineMs: 200 }).get('s-1'))
  assert.deepEqual([timedOut.status, timedOut.type, hung.calls.length], [0, 'E_CLIENT_TIMEOUT', 1])

  const caller = new AbortController()
  const waiting = scriptedFetch((init) => {
    setImmediate(() => caller.abort())
    return fails(503, 'E_UPSTREAM_UNAVAILABLE', { 'retry-after': '4' })(init)
  }, ok())
  const aborted = await rejection(clientWith(waiting.fetch).merge('s-1', {}, { signal: caller.signal }))
  assert.deepEqual([aborted.status, aborted.type, waiting.calls.length], [0, 'E_CLIENT_ABORTED', 1])

  const already = scriptedFetch(ok())
  const early = await rejection(clientWith(already.fetch).get('s-1', { signal: AbortSignal.abort() }))
  assert.deepEqual([early.type, already.calls.length], ['E_CLIENT_ABORTED', 0])
})

test('client rejects a 2xx without an ETag or a merge result, and does not resend it', async () => {
  const answers: Array<Record<string, string>> = [{ 'x-merge-result': 'applied' }, { etag: '"e1"' }, { etag: '"e1"', 'x-merge-result': 'maybe' }]
  for (const headers of answers) {
    const { fetch, calls } = scriptedFetch(() => Response.json(session, { headers }))
    const error = await rejection(clientWith(fetch).merge('s-1', {}))
    assert.deepEqual([error.status, error.type, calls.length], [200, 'E_UNEXPECTED_RESPONSE', 1])
  }
})

test('client answers 404 for ids no URL can carry, without a call', async () => {
  const { fetch, calls } = scriptedFetch(ok())
  for (const id of ['', '.', '..']) {
    const error = await rejection(clientWith(fetch).merge(id, {}))
    assert.deepEqual([error.status, error.type], [404, 'E_SESSION_NOT_FOUND'])
  }
  assert.equal(calls.length, 0)
})

test('client never puts the caller key in a message', async () => {
  const leaky = scriptedFetch(
    fails(401, 'E_UNAUTHORIZED', {}, `unknown key Bearer ${API_KEY}`),
  )
  const echoed = await rejection(clientWith(leaky.fetch).merge('s-1', {}))
  assert.equal(echoed.message, 'unknown key Bearer [redacted]')

  const quoting = scriptedFetch(() => {
    throw new TypeError(`Headers.append: "Bearer ${API_KEY}" is an invalid header value.`)
  })
  const wrapped = await rejection(clientWith(quoting.fetch, { retries: 0 }).merge('s-1', {}))
  assert.equal(wrapped.type, 'E_CLIENT_NETWORK')

  const unreachable = await rejection(clientWith(undefined, { baseUrl: 'http://127.0.0.1:1', retries: 0 }).get('s-1'))
  assert.equal(unreachable.type, 'E_CLIENT_NETWORK')

  for (const error of [echoed, wrapped, unreachable]) {
    assert.ok(!`${error.message} ${JSON.stringify(error.errors)} ${error.stack}`.includes(API_KEY), error.message)
  }
  for (const apiKey of [`${API_KEY}\r\nX-Evil: 1`, ` ${API_KEY}`, '']) {
    assert.throws(() => createClient({ baseUrl: 'http://proxy.test', apiKey }), (error: Error) => {
      assert.ok(error instanceof TypeError)
      assert.ok(!error.message.includes(API_KEY))
      return true
    })
  }
})

test('client refuses bad options when it is created, before any call', () => {
  const { fetch, calls } = scriptedFetch(ok())
  const bad: Array<Partial<ClientOptions>> = [
    { baseUrl: 'ftp://proxy.test' }, { baseUrl: 'http://user:pass@proxy.test' }, { baseUrl: 'http://proxy.test/?a=1' }, { baseUrl: 'not a url' },
    { timeoutMs: 0 }, { timeoutMs: Number.NaN }, { timeoutMs: Number.POSITIVE_INFINITY }, { deadlineMs: 2 ** 31 }, { retries: -1 }, { retries: 1.5 },
  ]
  for (const options of bad) assert.throws(() => clientWith(fetch, options), TypeError, JSON.stringify(options))
  assert.equal(calls.length, 0)
})

test('client keeps a base URL path prefix and drops its trailing slashes', async () => {
  const { fetch, calls } = scriptedFetch(ok())
  await clientWith(fetch, { baseUrl: 'https://gateway.test/merge-proxy//' }).get('s-1')
  assert.equal(calls[0]!.url, 'https://gateway.test/merge-proxy/api/admin/v2/sessions/s-1')
})
