import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CALLER_AUTH, SESSIONS, listenOnFreePort, patchSession, rawRequest, startTestApp, upstreamCalls } from './helper.ts'

function assertErrorShape(body: Record<string, unknown>, type: string, requestId?: string) {
  assert.equal(body.type, type)
  assert.equal(typeof body.message, 'string')
  assert.ok(Array.isArray(body.errors))
  assert.equal(typeof body.requestId, 'string')
  if (requestId !== undefined) assert.equal(body.requestId, requestId)
}

test('every input error answers in the documented error shape, never reaches AiFi, with the caller request id', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  const cases: Array<[string, unknown, number, string]> = [
    ['malformed JSON', '{"metadata":', 400, 'E_INVALID_BODY'],
    ['a number beyond a double', '{"metadata":{"big":1E400}}', 400, 'E_INVALID_BODY'],
    ['an array body', '[]', 400, 'E_INVALID_BODY'],
    ['an unknown field', { metadata: {}, extra: 1 }, 400, 'E_INVALID_BODY'],
    ['suspectedFraud false', { suspectedFraud: false }, 400, 'E_INVALID_BODY'],
    ['metadata null', { metadata: null }, 400, 'E_INVALID_BODY'],
    ['metadata an array', { metadata: [1] }, 400, 'E_INVALID_BODY'],
    ['metadata a string', { metadata: 'x' }, 400, 'E_INVALID_BODY'],
    ['an events key', { metadata: { events: [] } }, 400, 'E_RESERVED_KEY'],
    ['a null events key', { metadata: { events: null } }, 400, 'E_RESERVED_KEY'],
    ['__proto__ nested', '{"metadata":{"a":{"__proto__":{"x":1}}}}', 400, 'E_FORBIDDEN_KEY'],
    ['constructor at the top', '{"constructor":{}}', 400, 'E_FORBIDDEN_KEY'],
    ['prototype in an array', '{"metadata":{"a":[{"prototype":1}]}}', 400, 'E_FORBIDDEN_KEY'],
  ]
  for (const [name, body, status, type] of cases) {
    const response = await patchSession(app, id, body, { headers: { 'x-request-id': `req-${status}-${type}` } })
    assert.equal(response.statusCode, status, name)
    assertErrorShape(response.json(), type, `req-${status}-${type}`)
    assert.equal(response.headers['x-request-id'], `req-${status}-${type}`)
  }
  assert.equal(upstreamCalls(simulator, 'PATCH'), 0)
  assert.equal(upstreamCalls(simulator, 'GET'), 0)
  assert.equal(({} as Record<string, unknown>).x, undefined, 'no prototype was polluted')
})

test('errors[].field is a JSON pointer into the body (empty for the whole body), or the header or query parameter name', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { MAX_DEPTH: '2' } })
  const id = simulator.seededSessionIds[0]!
  const cases: Array<[string, { body: unknown; query?: string; headers?: Record<string, string> }, Array<[string, string]>]> = [
    ['an array body', { body: '[]' }, [['', 'invalid_type']]],
    ['a metadata that is not an object', { body: { metadata: 'x' } }, [['/metadata', 'invalid_type']]],
    ['suspectedFraud false', { body: { suspectedFraud: false } }, [['/suspectedFraud', 'invalid_value']]],
    ['unknown members, one entry each, escaped', { body: { metadata: {}, extra: 1, 'a/b~c': 2 } }, [['/extra', 'unrecognized_keys'], ['/a~1b~0c', 'unrecognized_keys']]],
    ['too deep', { body: { metadata: { a: { b: {} } } } }, [['/metadata', 'object.depth']]],
    ['a top-level events key', { body: { metadata: { events: [] } } }, [['/metadata/events', 'key.reserved']]],
    ['a forbidden key', { body: '{"metadata":{"a":{"__proto__":1}}}' }, [['/metadata/a/__proto__', 'key.forbidden']]],
    ['a bad dryRun', { body: {}, query: '?dryRun=TRUE' }, [['dryRun', 'invalid_value']]],
    ['an empty Idempotency-Key', { body: {}, headers: { 'idempotency-key': '' } }, [['Idempotency-Key', 'string.length']]],
  ]
  for (const [name, request, expected] of cases) {
    const response = await patchSession(app, id, request.body, { query: request.query, headers: request.headers })
    assert.equal(response.statusCode, 400, name)
    const errors = response.json().errors as Array<{ field: string; rule: string }>
    assert.deepEqual(errors.map((error) => [error.field, error.rule]), expected, name)
  }
})

test('an unknown member is named only by its pointer: no message quotes it', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const response = await patchSession(app, simulator.seededSessionIds[0]!, { metadata: {}, 'member-NAME-x': 1 })
  assert.equal(response.statusCode, 400)
  const { message, errors } = response.json() as { message: string; errors: Array<{ field: string; error: string }> }
  assert.deepEqual(errors.map((error) => error.field), ['/member-NAME-x'])
  for (const text of [message, ...errors.map((error) => error.error)]) assert.doesNotMatch(text, /member-NAME-x/)
})

test('a parse error never quotes the input', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const response = await patchSession(app, simulator.seededSessionIds[0]!, '{"metadata":{"ssn":"123-45-6789"')
  assert.equal(response.statusCode, 400)
  assert.doesNotMatch(response.body, /123-45-6789/)
})

test('nested events keys are ordinary keys', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  const response = await patchSession(app, id, { metadata: { club: { events: ['joined'] } } })
  assert.equal(response.statusCode, 200)
  assert.deepEqual((simulator.getSession(id)!.metadata as { club: unknown }).club, { events: ['joined'] })
})

test('the depth limit counts metadata as depth 1', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { MAX_DEPTH: '3' } })
  const id = simulator.seededSessionIds[0]!
  const atLimit = await patchSession(app, id, { metadata: { a: { b: [1] } } })
  assert.equal(atLimit.statusCode, 200)
  const over = await patchSession(app, id, { metadata: { a: { b: [[1]] } } })
  assert.equal(over.statusCode, 400)
  assert.equal(over.json().type, 'E_INVALID_BODY')
})

test('checks run in the documented order: 415, 413, malformed, forbidden, shape, reserved', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { BODY_LIMIT_BYTES: '100' } })
  const id = simulator.seededSessionIds[0]!
  const huge = `{"metadata":{"events":[],"pad":"${'x'.repeat(200)}"`
  const send = (body: string, type = 'application/json') =>
    patchSession(app, id, body, { headers: { 'content-type': type } }).then((response) => response.json().type)
  assert.equal(await send(huge, 'text/plain'), 'E_UNSUPPORTED_MEDIA_TYPE')
  assert.equal(await send(huge, 'application/json; charset=latin1'), 'E_UNSUPPORTED_MEDIA_TYPE')
  assert.equal(await send(huge), 'E_PAYLOAD_TOO_LARGE')
  assert.equal(await send('{"__proto__":{}, "metadata": {"events": 1}'), 'E_INVALID_BODY')
  assert.equal(await send('{"__proto__":{}, "x": 1, "metadata": {"events": 1}}'), 'E_FORBIDDEN_KEY')
  assert.equal(await send('{"x": 1, "metadata": {"events": 1}}'), 'E_INVALID_BODY')
  assert.equal(await send('{"metadata": {"events": 1}}'), 'E_RESERVED_KEY')
})

test('unknown routes are 404 E_NOT_FOUND and wrong methods 405 with Allow', async (t) => {
  const { app } = await startTestApp(t)
  const notFound = await app.inject({ method: 'GET', url: '/api/admin/v2/customers' })
  assert.equal(notFound.statusCode, 404)
  assertErrorShape(notFound.json(), 'E_NOT_FOUND')
  const wrongMethod = await app.inject({ method: 'DELETE', url: `${SESSIONS}/abc`, headers: { authorization: CALLER_AUTH } })
  assert.equal(wrongMethod.statusCode, 405)
  assertErrorShape(wrongMethod.json(), 'E_METHOD_NOT_ALLOWED')
  assert.equal(wrongMethod.headers.allow, 'GET, PATCH, HEAD')
  const post = await app.inject({ method: 'POST', url: '/healthz' })
  assert.equal(post.statusCode, 405)
})

test('session ids never reach another upstream path or query', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const hostile = ['../customers', 'a?b=1', 'a#b', 'a%2Fb', 'x&id=1', 'x&sessionToken=y', ' spaced ', 'ü-ñ']
  for (const id of hostile) {
    const response = await patchSession(app, id, { metadata: { a: 1 } })
    assert.equal(response.statusCode, 404, id)
    assert.equal(response.json().type, 'E_SESSION_NOT_FOUND')
  }
  const log = simulator.counters().log
  assert.equal(log.length, hostile.length)
  for (const [index, entry] of log.entries()) {
    const url = new URL(entry.url, 'http://upstream')
    assert.equal(url.pathname, '/api/admin/v2/sessions')
    assert.deepEqual([...url.searchParams.keys()].sort(), ['count', 'sessionToken'])
    assert.equal(url.searchParams.get('sessionToken'), hostile[index])
  }

  const created = simulator.createSession({ sessionId: 'a/b?c#d&e', sessionToken: 'a/b?c#d&e' })
  const written = await patchSession(app, created.sessionId!, { metadata: { ok: true } })
  assert.equal(written.statusCode, 200)
  assert.equal(simulator.counters().requests['PATCH /api/admin/v2/sessions/a%2Fb%3Fc%23d%26e'], 1)
})

test('dot segments and undecodable ids never reach AiFi, raw or percent-encoded, over a real socket', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const port = await listenOnFreePort(app)
  for (const segment of ['.', '..', '%2E', '%2e%2E', '.%2E', '%E0%A4%A', '%ZZ']) {
    const response = await rawRequest(port, 'PATCH', `${SESSIONS}/${segment}`, {
      headers: { authorization: CALLER_AUTH, 'content-type': 'application/json' },
      body: '{"metadata":{"a":1}}',
    })
    assert.equal(response.status, 404, segment)
    assert.equal(JSON.parse(response.body).type, 'E_SESSION_NOT_FOUND', segment)
  }
  assert.equal(simulator.counters().log.length, 0)
})
