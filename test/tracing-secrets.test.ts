import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CALLER_SECRET, getSession, patchSession } from './helper.ts'
import { callerTrace, startTracedApp } from './tracing-helper.ts'

function stringLeaves(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (typeof value !== 'object' || value === null) return []
  return Object.values(value).flatMap(stringLeaves)
}

test('no span holds a metadata value, a caller key, the AiFi token or an Idempotency-Key, whatever the request came to', async (t) => {
  const aifiToken = 'aifi-T0KEN-never-traced'
  const { app, simulator, spans } = await startTracedApp(t, { simulatorOptions: { token: aifiToken } })
  const id = simulator.seededSessionIds[0]!
  const storedValues = stringLeaves(simulator.getSession(id)!.metadata).filter((value) => value.length >= 6)
  assert.ok(storedValues.length > 0, 'the seeded session holds values worth looking for')
  const headers = { traceparent: callerTrace().traceparent }

  const wrongKey = 'wrong-K3Y-never-traced'
  assert.equal((await patchSession(app, id, { metadata: { a: 1 } }, { headers: { ...headers, authorization: `Bearer ${wrongKey}` } })).statusCode, 401)
  simulator.injectFault({ op: 'read', kind: 'status', status: 401, count: 1 })
  assert.equal((await patchSession(app, id, { metadata: { a: 1 } }, { headers })).statusCode, 502)
  const idempotent = { ...headers, 'idempotency-key': 'IDEM-key-never-traced' }
  const body = { metadata: { loyalty: { tier: 'PLATINUM-value-never-traced' }, promo: null, tags: ['TAG-value-never-traced'] } }
  assert.equal((await patchSession(app, id, body, { headers: idempotent })).statusCode, 200)
  assert.equal((await patchSession(app, id, body, { headers: idempotent })).headers['idempotency-replayed'], 'true')
  assert.equal((await patchSession(app, id, { metadata: { p: 'PREVIEW-value-never-traced' } }, { headers, query: '?dryRun=true' })).statusCode, 200)
  simulator.injectFault({ op: 'write', kind: 'ignore-write', count: 1 })
  assert.equal((await patchSession(app, id, { metadata: { u: 'UNCONFIRMED-value-never-traced' } }, { headers })).statusCode, 502)
  const rejection = { message: 'bad REJECTED-value-never-traced', errors: [{ field: 'metadata', error: 'REJECTED-value-never-traced' }] }
  simulator.injectFault({ op: 'write', kind: 'status', status: 400, body: rejection, count: 1 })
  assert.equal((await patchSession(app, id, { metadata: { r: 'REJECTED-value-never-traced' } }, { headers })).statusCode, 422)
  assert.equal((await patchSession(app, id, '{"metadata": {"broken": "BROKEN-value-never-traced"', { headers })).statusCode, 400)
  assert.equal((await patchSession(app, id, { metadata: { events: ['EVENTS-value-never-traced'] } }, { headers })).statusCode, 400)
  assert.equal((await getSession(app, id, headers)).statusCode, 200)

  const exported = spans().map((span) => ({
    name: span.name,
    attributes: span.attributes,
    events: span.events,
    links: span.links.map((link) => link.attributes),
    status: span.status,
    resource: span.resource.attributes,
  }))
  assert.ok(exported.length >= 20, `only ${exported.length} spans`)
  const text = JSON.stringify(exported)
  assert.ok(text.includes(id), 'the spans name the session')
  const secrets = [CALLER_SECRET, 'second-key', aifiToken, wrongKey, 'IDEM-key-never-traced']
  const values = [...['PLATINUM', 'TAG', 'PREVIEW', 'UNCONFIRMED', 'REJECTED', 'BROKEN', 'EVENTS'].map((name) => `${name}-value-never-traced`), ...storedValues]
  for (const needle of [...secrets, ...values]) assert.ok(!text.includes(needle), `a span holds ${needle}`)
})
