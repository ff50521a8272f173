import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CALLER_SECRET, patchSession, startTestApp, upstreamCalls } from './helper.ts'

test('service mode: a missing or unknown key is 401 and never touches AiFi', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  for (const authorization of ['', 'Bearer', 'Bearer wrong', `Basic ${CALLER_SECRET}`, simulator.token, `Bearer ${simulator.token}`]) {
    const response = await patchSession(app, id, { metadata: { a: 1 } }, { headers: { authorization } })
    assert.equal(response.statusCode, 401, authorization)
    assert.equal(response.json().type, 'E_UNAUTHORIZED')
  }
  assert.equal(simulator.counters().log.length, 0)
})

test('service mode: the Bearer scheme is case-insensitive and secrets may hold colons', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
    const response = await patchSession(app, id, { metadata: { scheme } }, { headers: { authorization: `${scheme} ${CALLER_SECRET}` } })
    assert.equal(response.statusCode, 200, scheme)
  }
  const second = await patchSession(app, id, { metadata: { k: 2 } }, { headers: { authorization: 'Bearer second-key' } })
  assert.equal(second.statusCode, 200)
  assert.ok(simulator.counters().log.every((entry) => entry.authorization), 'the proxy sends its own token upstream')
})

test('forward mode: the caller token is relayed; none is 401 before any upstream call', async (t) => {
  const { app, simulator } = await startTestApp(t, { auth: 'forward' })
  const id = simulator.seededSessionIds[0]!
  const missing = await patchSession(app, id, { metadata: { a: 1 } }, { headers: { authorization: '' } })
  assert.equal(missing.statusCode, 401)
  assert.equal(simulator.counters().log.length, 0)

  const refused = await patchSession(app, id, { metadata: { a: 1 } }, { headers: { authorization: 'Bearer not-aifis' } })
  assert.equal(refused.statusCode, 401)
  assert.equal(refused.json().type, 'E_UNAUTHORIZED')
  assert.doesNotMatch(refused.body, /not-aifis/)

  const relayed = await patchSession(app, id, { metadata: { a: 1 } }, { headers: { authorization: `Bearer ${simulator.token}` } })
  assert.equal(relayed.statusCode, 200)
  assert.equal(upstreamCalls(simulator, 'PATCH'), 1)
})

test('service mode: AiFi refusing the proxy token is 502 E_UPSTREAM_AUTH without the token', async (t) => {
  const { app, simulator } = await startTestApp(t)
  simulator.injectFault({ op: 'read', kind: 'status', status: 401, count: 1 })
  const response = await patchSession(app, simulator.seededSessionIds[0]!, { metadata: { a: 1 } })
  assert.equal(response.statusCode, 502)
  assert.equal(response.json().type, 'E_UPSTREAM_AUTH')
  assert.doesNotMatch(response.body, new RegExp(simulator.token))
})
