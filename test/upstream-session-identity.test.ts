import assert from 'node:assert/strict'
import { test } from 'node:test'
import { getSession, patchSession, startTestApp, upstreamCalls } from './helper.ts'

// docs/aifi-upstream.md#how-the-proxy-uses-this-api: the item read is the session written. The list is filtered by
// sessionToken, so another session whose sessionToken is this id comes back from it and must not be taken.

const victim = { sessionId: 'vict2', sessionToken: 'tok-vict2', metadata: { mine: 'kept', events: [{ eventId: 'v-e1' }] } }
const other = { sessionId: 'oth2', sessionToken: 'vict2', metadata: { theirs: 'other session' } }

test("a session whose sessionToken is the id but whose sessionId is another's is never merged into this one", async (t) => {
  const { app, simulator } = await startTestApp(t, { simulatorOptions: { seed: false } })
  simulator.createSession(victim)
  simulator.createSession(other)

  const response = await patchSession(app, 'vict2', { metadata: { x: 1 } })
  assert.equal(response.statusCode, 404)
  assert.equal(response.json().type, 'E_SESSION_NOT_FOUND')
  assert.equal((await getSession(app, 'vict2')).statusCode, 404)
  assert.equal(upstreamCalls(simulator, 'PATCH'), 0)
  assert.deepEqual(simulator.getSession('vict2')!.metadata, victim.metadata)
  assert.deepEqual(simulator.getSession('oth2')!.metadata, other.metadata)
})

test('when the list holds the session and another whose sessionToken is its id, the session itself is read and written', async (t) => {
  const { app, simulator } = await startTestApp(t, { simulatorOptions: { seed: false } })
  // Created first, so the list (ordered by id) puts the other session first.
  simulator.createSession(other)
  simulator.createSession({ ...victim, sessionToken: 'vict2' })

  const response = await patchSession(app, 'vict2', { metadata: { x: 1 } })
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['x-merge-result'], 'applied')
  assert.deepEqual(simulator.getSession('vict2')!.metadata, { ...victim.metadata, x: 1 })
  assert.deepEqual(simulator.getSession('oth2')!.metadata, other.metadata)
})

test('an item with no sessionId is named by its sessionToken, and two items named by the id are ambiguous (502)', async (t) => {
  const { app, simulator } = await startTestApp(t, { simulatorOptions: { seed: false } })
  simulator.createSession({ sessionId: undefined, sessionToken: 'tok-only', metadata: { a: 1 } })
  const response = await patchSession(app, 'tok-only', { metadata: { b: 2 } })
  assert.equal(response.statusCode, 200)
  assert.deepEqual(simulator.getSession('tok-only')!.metadata, { a: 1, b: 2 })

  simulator.createSession({ sessionId: 'twice', metadata: { n: 1 } })
  simulator.createSession({ sessionId: undefined, sessionToken: 'twice', metadata: { n: 2 } })
  const ambiguous = await patchSession(app, 'twice', { metadata: { c: 3 } })
  assert.equal(ambiguous.statusCode, 502)
  assert.equal(ambiguous.json().type, 'E_UPSTREAM_BAD_RESPONSE')
  assert.equal(upstreamCalls(simulator, 'PATCH'), 1)
})
