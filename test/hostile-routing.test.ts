import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CALLER_AUTH, SESSIONS, assertErrorShape, callsDuring, listenOnFreePort, rawRequest, startTestApp } from './helper.ts'

// docs/http-api.md#check-order: route, method and session-id checks come before auth and body checks.

test('a wrong method is 405 with Allow before the body is read, for every method fastify routes', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const session = `${SESSIONS}/${simulator.seededSessionIds[0]}`
  const cases: Array<[string, string, Record<string, string>, string | undefined, string]> = [
    ['POST', '/healthz', { 'content-type': 'text/plain' }, 'x', 'GET, HEAD'],
    ['POST', '/metrics', { 'content-type': 'application/json' }, '{"unfinished":', 'GET, HEAD'],
    ['PUT', '/readyz', { 'content-type': 'application/json' }, '{"__proto__":{}}', 'GET, HEAD'],
    ['DELETE', session, { 'content-type': 'application/xml', authorization: CALLER_AUTH }, '<x/>', 'GET, PATCH, HEAD'],
    ['POST', session, { 'content-type': 'application/json' }, '{"metadata":', 'GET, PATCH, HEAD'],
    ['TRACE', '/healthz', {}, undefined, 'GET, HEAD'],
    ['QUERY', session, {}, undefined, 'GET, PATCH, HEAD'],
  ]
  for (const [method, url, headers, payload, allow] of cases) {
    const [response, calls] = await callsDuring(simulator, () =>
      app.inject({ method: method as 'POST', url, headers, ...(payload === undefined ? {} : { payload }) }),
    )
    assert.equal(response.statusCode, 405, `${method} ${url}`)
    assert.equal(assertErrorShape(response).type, 'E_METHOD_NOT_ALLOWED')
    assert.equal(response.headers.allow, allow)
    assert.deepEqual(calls, [])
  }
})

test('an unknown route is 404 E_NOT_FOUND before the body is read', async (t) => {
  const { app, simulator } = await startTestApp(t)
  for (const [url, payload] of [
    ['/api/admin/v2/customers', '{"unfinished":'],
    [`${SESSIONS}/a/b`, '{"metadata":{"__proto__":{}}}'],
    ['/nope', '\u0000\u0001'],
  ] as const) {
    const [response, calls] = await callsDuring(simulator, () =>
      app.inject({ method: 'PATCH', url, headers: { authorization: CALLER_AUTH, 'content-type': 'application/json' }, payload }),
    )
    assert.equal(response.statusCode, 404, url)
    assert.equal(assertErrorShape(response).type, 'E_NOT_FOUND')
    assert.deepEqual(calls, [])
  }
})

test('ids the router cannot take (undecodable or over maxParamLength) are 404 E_SESSION_NOT_FOUND with a request id', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const port = await listenOnFreePort(app)
  for (const id of ['%E0%A4%A', '%ZZ', 'a'.repeat(1025), encodeURIComponent('é'.repeat(1025))]) {
    for (const method of ['GET', 'PATCH']) {
      const [response, calls] = await callsDuring(simulator, () =>
        rawRequest(port, method, `${SESSIONS}/${id}`, {
          headers: { authorization: CALLER_AUTH, 'content-type': 'application/json', 'x-request-id': 'hostile-1' },
          body: method === 'PATCH' ? '{"metadata":{"a":1}}' : undefined,
        }),
      )
      const context = `${method} ${id.slice(0, 20)}… (${id.length})`
      assert.equal(response.status, 404, context)
      const body = assertErrorShape({ statusCode: response.status, body: response.body, headers: response.headers }, context)
      assert.equal(body.type, 'E_SESSION_NOT_FOUND', context)
      assert.equal(response.headers['x-request-id'], 'hostile-1', context)
      assert.equal(body.requestId, 'hostile-1', context)
      assert.deepEqual(calls, [], context)
    }
  }
})
