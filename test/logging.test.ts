import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { JsonObject } from '../src/schemas.ts'
import { CALLER_SECRET, SESSIONS, captureLogs, getSession, patchSession, startTestApp } from './helper.ts'

function stringLeaves(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (typeof value !== 'object' || value === null) return []
  return Object.values(value).flatMap(stringLeaves)
}

test('X-Request-Id is kept, sent upstream with every call, returned, and on every log line of the request', async (t) => {
  const logs = captureLogs()
  const { app, simulator } = await startTestApp(t, { loggerInstance: logs.logger })
  const id = simulator.seededSessionIds[0]!

  const response = await patchSession(app, id, { metadata: { a: 1 } }, { headers: { 'x-request-id': 'checkout-42.retry:1' } })
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['x-request-id'], 'checkout-42.retry:1')
  const upstream = simulator.counters().log
  assert.deepEqual(upstream.map((entry) => entry.method), ['GET', 'PATCH'])
  for (const entry of upstream) assert.equal(entry.requestId, 'checkout-42.retry:1', entry.method)

  const requestLines = logs.entries().filter((entry) => entry.req !== undefined || entry.res !== undefined)
  assert.ok(requestLines.length >= 2, 'fastify logged the request and its completion')
  for (const entry of requestLines) assert.equal(entry.requestId, 'checkout-42.retry:1')
  const audit = logs.entries().find((entry) => entry.audit !== undefined)?.audit as { callers: Array<{ requestId: string }> }
  assert.equal(audit.callers[0]!.requestId, 'checkout-42.retry:1')
})

test('without a usable X-Request-Id one is generated, and the same id is returned, sent upstream and in errors', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!

  const read = await getSession(app, id)
  const generated = String(read.headers['x-request-id'])
  assert.match(generated, /^[0-9a-f-]{36}$/)
  assert.equal(simulator.counters().log.at(-1)!.requestId, generated)

  // Not a plain token: it could forge log lines or headers, so it is replaced rather than echoed.
  for (const forged of ['two words', 'x'.repeat(129), 'a"b', '']) {
    const response = await getSession(app, id, { 'x-request-id': forged })
    const replaced = String(response.headers['x-request-id'])
    assert.notEqual(replaced, forged)
    assert.match(replaced, /^[0-9a-f-]{36}$/)
    assert.equal(simulator.counters().log.at(-1)!.requestId, replaced)
  }

  const refused = await patchSession(app, id, { metadata: { a: 1 } }, { headers: { authorization: 'Bearer nope' } })
  assert.equal(refused.statusCode, 401)
  assert.equal(refused.json().requestId, refused.headers['x-request-id'])
})

test('no secret and no metadata value reaches the logs; the audit line names the paths set and deleted', async (t) => {
  const logs = captureLogs()
  const aifiToken = 'aifi-T0KEN-never-logged'
  const { app, simulator } = await startTestApp(t, { simulatorOptions: { token: aifiToken }, loggerInstance: logs.logger })
  const id = simulator.seededSessionIds[0]!
  const storedValues = stringLeaves(simulator.getSession(id)!.metadata).filter((value) => value.length >= 6)
  assert.ok(storedValues.length > 0, 'the seeded session holds values worth looking for')

  // An auth failure with a key that looks like a real one.
  const wrongKey = 'wrong-K3Y-never-logged'
  assert.equal((await patchSession(app, id, { metadata: { a: 1 } }, { headers: { authorization: `Bearer ${wrongKey}` } })).statusCode, 401)
  // AiFi refusing the proxy's own token.
  simulator.injectFault({ op: 'read', kind: 'status', status: 401, count: 1 })
  assert.equal((await patchSession(app, id, { metadata: { a: 1 } })).statusCode, 502)
  // A merge that sets, deletes and keeps, with an Idempotency-Key.
  const merge = await patchSession(
    app,
    id,
    { metadata: { loyalty: { tier: 'PLATINUM-value-never-logged' }, promo: null, tags: ['TAG-value-never-logged'] } },
    { headers: { 'idempotency-key': 'IDEM-key-never-logged' } },
  )
  assert.equal(merge.statusCode, 200)
  // A write AiFi does not confirm: the mismatch is logged by path too.
  simulator.injectFault({ op: 'write', kind: 'ignore-write', count: 1 })
  assert.equal((await patchSession(app, id, { metadata: { unconfirmed: 'UNCONFIRMED-value-never-logged' } })).statusCode, 502)

  const output = logs.lines.join('')
  const secrets = [CALLER_SECRET, 'second-key', aifiToken, wrongKey, 'IDEM-key-never-logged']
  const values = ['PLATINUM-value-never-logged', 'TAG-value-never-logged', 'UNCONFIRMED-value-never-logged', ...storedValues]
  for (const needle of [...secrets, ...values]) assert.ok(!output.includes(needle), `the logs hold ${needle}`)

  const audits = logs.entries().flatMap((entry) => (entry.audit === undefined ? [] : [entry.audit as JsonObject]))
  const applied = audits.find((audit) => audit.outcome === 'applied')
  assert.ok(applied, 'the merge has its audit line')
  assert.equal(applied.sessionId, id)
  assert.equal(applied.eventsKept, true)
  assert.deepEqual(applied.callers, [
    { caller: 'tester', requestId: merge.headers['x-request-id'], set: ['/loyalty/tier', '/tags'], deleted: ['/promo'], truncated: 0 },
  ])
  assert.ok(audits.some((audit) => audit.outcome === 'unverified'), 'the unconfirmed write has its audit line too')
})

test("fastify's request log lines carry method and url, never headers", async (t) => {
  const logs = captureLogs()
  const { app, simulator } = await startTestApp(t, { loggerInstance: logs.logger })
  await getSession(app, simulator.seededSessionIds[0]!, { cookie: 'session=COOKIE-never-logged' })

  const incoming = logs.entries().find((entry) => entry.msg === 'incoming request')
  const request = incoming?.req as Record<string, unknown> | undefined
  assert.ok(request, 'the request was logged')
  assert.equal(request.method, 'GET')
  assert.equal(request.headers, undefined)
  const completed = logs.entries().find((entry) => entry.msg === 'request completed')
  assert.deepEqual(Object.keys(completed?.res as object), ['statusCode'])
  assert.ok(!logs.lines.join('').includes('COOKIE-never-logged'))
  assert.ok(!logs.lines.join('').includes(CALLER_SECRET))
})

test('requests to /healthz, /readyz and /metrics are logged at debug; API requests stay at info', async (t) => {
  const operations = ['/healthz', '/readyz', '/metrics']
  // fastify's two lines per request; only the first names the url, the request id ties the second to it.
  const requestLines = (entries: Array<Record<string, unknown>>, url: string) => {
    const incoming = entries.filter((entry) => entry.msg === 'incoming request' && (entry.req as { url: string }).url === url)
    const ids = new Set(incoming.map((entry) => entry.requestId))
    return entries.filter((entry) => ids.has(entry.requestId) && ['incoming request', 'request completed'].includes(String(entry.msg)))
  }

  for (const level of ['info', 'debug'] as const) {
    const logs = captureLogs(level)
    const { app, simulator } = await startTestApp(t, { loggerInstance: logs.logger })
    for (const url of operations) assert.equal((await app.inject(url)).statusCode, 200, url)
    assert.equal((await getSession(app, simulator.seededSessionIds[0]!)).statusCode, 200)

    const api = requestLines(logs.entries(), `${SESSIONS}/${simulator.seededSessionIds[0]!}`)
    assert.deepEqual(api.map((entry) => entry.level), [30, 30], `${level}: the API request is logged at info`)
    for (const url of operations) {
      const lines = requestLines(logs.entries(), url)
      assert.deepEqual(lines.map((entry) => entry.level), level === 'info' ? [] : [20, 20], `${level}: ${url}`)
    }
  }
})

test('forward mode: a caller token AiFi refuses is in neither the answer nor the logs', async (t) => {
  const logs = captureLogs()
  const { app, simulator } = await startTestApp(t, { auth: 'forward', loggerInstance: logs.logger })
  const forwarded = 'Bearer FORWARDED-token-never-logged'
  const response = await patchSession(app, simulator.seededSessionIds[0]!, { metadata: { a: 1 } }, { headers: { authorization: forwarded } })
  assert.equal(response.statusCode, 401)
  assert.equal(simulator.counters().log.length, 1, 'the token was tried upstream')
  assert.ok(logs.lines.length > 0)
  for (const text of [response.body, logs.lines.join('')]) assert.ok(!text.includes('FORWARDED-token-never-logged'))
})

test('the logger redacts credentials wherever they sit, and logs errors without what AiFi or the caller sent', () => {
  const logs = captureLogs()
  const caller = { name: 'tester', authorization: 'Bearer NESTED-secret', scope: 'key:tester' }
  logs.logger.info({ caller, batch: { first: { authorization: 'Bearer DEEP-secret' } }, config: { aifiApiToken: 'CONFIG-token' } }, 'objects')
  const upstream = Object.assign(new Error('AiFi answered 500 to a write'), { body: { echoed: 'BODY-value' } })
  const error = Object.assign(new Error('AiFi answered something the proxy cannot use', { cause: upstream }), {
    statusCode: 502,
    errors: [{ field: '/metadata/x', error: 'FIELD-value is wrong', rule: 'r' }],
  })
  logs.logger.error({ err: error }, 'failed')

  const output = logs.lines.join('')
  for (const needle of ['NESTED-secret', 'DEEP-secret', 'CONFIG-token', 'BODY-value', 'FIELD-value']) assert.ok(!output.includes(needle), needle)
  const [objects, failed] = logs.entries()
  assert.deepEqual(objects!.caller, { ...caller, authorization: '[redacted]' })
  const err = failed!.err as Record<string, unknown>
  assert.equal(err.statusCode, 502)
  assert.equal(err.message, 'AiFi answered something the proxy cannot use', 'a cause is not quoted')
  assert.doesNotMatch(String(err.stack), /caused by|AiFi answered 500/)
  assert.deepEqual(err.cause, { type: 'Error' }, 'only named')
})
