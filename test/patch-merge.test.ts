import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CALLER_AUTH, SESSIONS, getSession, patchSession, startTestApp, upstreamCalls } from './helper.ts'

const eventsOf = (metadata: unknown) => JSON.stringify((metadata as { events?: unknown }).events)

test('a patch merges into current metadata, keeps events byte-for-byte and passes unknown fields through', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  const before = simulator.getSession(id)!
  const response = await patchSession(app, id, { metadata: { loyalty: { tier: 'gold' }, tags: ['x'] } })

  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['x-merge-result'], 'applied')
  assert.match(String(response.headers.etag), /^"[\w-]+"$/)
  const after = simulator.getSession(id)!
  const metadata = after.metadata as Record<string, unknown>
  assert.equal(eventsOf(metadata), eventsOf(before.metadata))
  for (const [key, value] of Object.entries(before.metadata as object)) {
    if (key !== 'loyalty' && key !== 'tags') assert.deepEqual(metadata[key], value)
  }
  assert.deepEqual(metadata.tags, ['x'])
  assert.equal((metadata.loyalty as { tier: string }).tier, 'gold')
  const body = response.json()
  assert.deepEqual(body.metadata, after.metadata)
  assert.deepEqual(body.shoppingSessionFlags, before.shoppingSessionFlags, 'undocumented fields pass through')
  assert.notEqual(before.shoppingSessionFlags, undefined)
})

test('null deletes a key, arrays replace whole, nested objects merge', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const session = simulator.createSession({
    metadata: { events: [{ eventId: 'e1', metadata: { k: 'v' } }], drop: 1, tags: ['a', 'b'], nested: { a: 1, b: 2 } },
  })
  const response = await patchSession(app, session.sessionId!, {
    metadata: { drop: null, tags: ['c'], nested: { b: null, c: 3 } },
  })
  assert.equal(response.statusCode, 200)
  assert.deepEqual(simulator.getSession(session.sessionId!)!.metadata, {
    events: [{ eventId: 'e1', metadata: { k: 'v' } }],
    tags: ['c'],
    nested: { a: 1, c: 3 },
  })
})

test('events survive every kind of write: merge, delete, fraud flag, coalesced batch', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[1]!
  const events = eventsOf(simulator.getSession(id)!.metadata)
  await patchSession(app, id, { metadata: { a: { b: [1, 2] } } })
  await patchSession(app, id, { metadata: { a: null } })
  await patchSession(app, id, { suspectedFraud: true })
  await Promise.all(Array.from({ length: 5 }, (_, i) => patchSession(app, id, { metadata: { [`k${i}`]: i } })))
  assert.equal(eventsOf(simulator.getSession(id)!.metadata), events)
})

test('absent or null metadata counts as {} and absent events stay absent', async (t) => {
  const { app, simulator } = await startTestApp(t)
  for (const metadata of [undefined, null]) {
    const session = simulator.createSession({ metadata })
    const response = await patchSession(app, session.sessionId!, { metadata: { a: 1 } })
    assert.equal(response.statusCode, 200)
    assert.deepEqual(simulator.getSession(session.sessionId!)!.metadata, { a: 1 })
  }
})

test('a patch that changes nothing is not written and answers noop', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const session = simulator.createSession({ metadata: { a: 1, z: -0 } })
  const response = await patchSession(app, session.sessionId!, { metadata: { a: 1, missing: null, z: 0 } })
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['x-merge-result'], 'noop')
  assert.equal(upstreamCalls(simulator, 'PATCH'), 0)
  assert.deepEqual(response.json().metadata, { a: 1, z: 0 })
})

test('a fraud-only patch sends suspectedFraud alone, and raising it twice changes nothing', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  const first = await patchSession(app, id, { suspectedFraud: true })
  assert.equal(first.statusCode, 200)
  assert.equal(first.headers['x-merge-result'], 'applied')
  assert.deepEqual(simulator.counters().patchBodies.map((entry) => entry.body), [{ suspectedFraud: true }])
  const second = await patchSession(app, id, { suspectedFraud: true })
  assert.equal(second.headers['x-merge-result'], 'noop')
  assert.equal(upstreamCalls(simulator, 'PATCH'), 1)
})

test('both media types are accepted; charset must be UTF-8; anything else is 415', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  for (const type of ['application/merge-patch+json', 'Application/JSON; charset=UTF-8', 'application/json; foo=bar']) {
    const response = await patchSession(app, id, { metadata: { type } }, { headers: { 'content-type': type } })
    assert.equal(response.statusCode, 200, type)
  }
  for (const type of ['text/plain', 'application/json; charset=latin1', 'application/json-patch+json']) {
    const response = await patchSession(app, id, { metadata: { x: 1 } }, { headers: { 'content-type': type } })
    assert.equal(response.statusCode, 415, type)
    assert.equal(response.json().type, 'E_UNSUPPORTED_MEDIA_TYPE')
  }
  const missing = await app.inject({ method: 'PATCH', url: `${SESSIONS}/${id}`, headers: { authorization: CALLER_AUTH } })
  assert.equal(missing.statusCode, 415)
  assert.equal(upstreamCalls(simulator, 'PATCH'), 3)
})

test('dryRun=true merges without writing; other dryRun values are refused', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  const before = simulator.getSession(id)!
  const response = await patchSession(app, id, { metadata: { promo: 'X' }, suspectedFraud: true }, { query: '?dryRun=true' })
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['x-merge-result'], 'dry-run')
  assert.equal(response.json().metadata.promo, 'X')
  assert.equal(response.json().suspectedFraud, true)
  assert.deepEqual(simulator.getSession(id), before)
  assert.equal(upstreamCalls(simulator, 'PATCH'), 0)

  const applied = await patchSession(app, id, { metadata: { promo: 'X' }, suspectedFraud: true }, { query: '?dryRun=false' })
  assert.equal(applied.headers.etag, response.headers.etag, 'the dry run predicted the ETag')
  for (const query of ['?dryRun', '?dryRun=TRUE', '?dryRun=1']) {
    const refused = await patchSession(app, id, { metadata: { a: 1 } }, { query })
    assert.equal(refused.statusCode, 400, query)
    assert.equal(refused.json().type, 'E_INVALID_BODY')
  }
  assert.equal(upstreamCalls(simulator, 'PATCH'), 1)
})

test('GET answers the session with its ETag, which If-Match then guards', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  const read = await getSession(app, id)
  assert.equal(read.statusCode, 200)
  assert.equal(read.headers['accept-patch'], 'application/merge-patch+json')
  const etag = String(read.headers.etag)

  const stale = await patchSession(app, id, { metadata: { a: 1 } }, { headers: { 'if-match': '"not-it"' } })
  assert.equal(stale.statusCode, 412)
  assert.equal(stale.json().type, 'E_PRECONDITION_FAILED')
  assert.equal(upstreamCalls(simulator, 'PATCH'), 0)

  const fresh = await patchSession(app, id, { metadata: { a: 1 } }, { headers: { 'if-match': `"x", ${etag}` } })
  assert.equal(fresh.statusCode, 200)
  const reused = await patchSession(app, id, { metadata: { a: 2 } }, { headers: { 'if-match': etag } })
  assert.equal(reused.statusCode, 412, 'the first write changed the ETag')
  const star = await patchSession(app, id, { metadata: { a: 3 } }, { headers: { 'if-match': '*' } })
  assert.equal(star.statusCode, 200)
  assert.equal(upstreamCalls(simulator, 'PATCH'), 2)
})

test('an event appended by AiFi changes the ETag', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  const etag = String((await getSession(app, id)).headers.etag)
  simulator.appendEvent(id, { metadata: { source: 'handoff' } })
  const response = await patchSession(app, id, { metadata: { a: 1 } }, { headers: { 'if-match': etag } })
  assert.equal(response.statusCode, 412)
})

test('unknown sessions are 404 E_SESSION_NOT_FOUND, whatever If-Match says', async (t) => {
  const { app } = await startTestApp(t)
  for (const headers of [{}, { 'if-match': '"x"' }, { 'if-match': '*' }] as Array<Record<string, string>>) {
    const response = await patchSession(app, 'no-such-session', { metadata: { a: 1 } }, { headers })
    assert.equal(response.statusCode, 404)
    assert.equal(response.json().type, 'E_SESSION_NOT_FOUND')
  }
  assert.equal((await getSession(app, 'no-such-session')).statusCode, 404)
})

test('metadata that is not an object upstream is never overwritten', async (t) => {
  const { app, simulator } = await startTestApp(t)
  for (const metadata of ['text', 42, true, ['a']]) {
    const session = simulator.createSession({ metadata })
    for (const query of ['', '?dryRun=true']) {
      const response = await patchSession(app, session.sessionId!, { metadata: {} }, { query })
      assert.equal(response.statusCode, 502)
      assert.equal(response.json().type, 'E_UPSTREAM_BAD_RESPONSE')
    }
    const fraud = await patchSession(app, session.sessionId!, { suspectedFraud: true })
    assert.equal(fraud.statusCode, 200)
    assert.deepEqual(simulator.getSession(session.sessionId!)!.metadata, metadata)
  }
  assert.deepEqual(
    simulator.counters().patchBodies.map((entry) => entry.body),
    Array.from({ length: 4 }, () => ({ suspectedFraud: true })),
  )
})
