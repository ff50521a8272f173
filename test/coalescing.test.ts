import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { SessionLock } from '../src/coordinator/session-lock.ts'
import { computeEtag, mergeMetadata } from '../src/merge/index.ts'
import type { JsonObject } from '../src/schemas.ts'
import { patchSession, startTestApp, until, upstreamCalls } from './helper.ts'

test('100 concurrent patches to one session: no key lost, events intact, one writer at a time, few writes', async (t) => {
  const { app, simulator } = await startTestApp(t)
  simulator.setLatency({ op: 'all', ms: 5 })
  const id = simulator.seededSessionIds[0]!
  const events = JSON.stringify((simulator.getSession(id)!.metadata as JsonObject).events)

  const responses = await Promise.all(
    Array.from({ length: 100 }, (_, i) => patchSession(app, id, { metadata: { [`key${i}`]: i } })),
  )
  assert.deepEqual(new Set(responses.map((response) => response.statusCode)), new Set([200]))
  const metadata = simulator.getSession(id)!.metadata as JsonObject
  for (let i = 0; i < 100; i++) assert.equal(metadata[`key${i}`], i)
  assert.equal(JSON.stringify(metadata.events), events)
  assert.equal(simulator.counters().maxConcurrentPatches[id], 1)
  assert.ok(upstreamCalls(simulator, 'PATCH') <= 10, `${upstreamCalls(simulator, 'PATCH')} upstream PATCHes`)
  assert.equal(app.sessionQueues.activeSessions(), 0, 'the idle queue was freed')
})

test('a batch applies patches in arrival order and checks each If-Match against the state just before it', async (t) => {
  const { app, simulator } = await startTestApp(t)
  simulator.setLatency({ op: 'read', ms: 30 })
  const session = simulator.createSession({ metadata: { events: [], n: 0 } })
  const id = session.sessionId!
  const initial = session.metadata as JsonObject
  const afterFirst = mergeMetadata(initial, { n: 1 })
  const afterSecond = mergeMetadata(afterFirst, { n: 2 })

  const [first, stale, second, third, staleAgain] = await Promise.all([
    patchSession(app, id, { metadata: { n: 1 } }),
    patchSession(app, id, { metadata: { stale: true } }, { headers: { 'if-match': computeEtag(initial) } }),
    patchSession(app, id, { metadata: { n: 2 } }, { headers: { 'if-match': computeEtag(afterFirst) } }),
    patchSession(app, id, { metadata: { n: 3 } }, { headers: { 'if-match': computeEtag(afterSecond) } }),
    patchSession(app, id, { metadata: { late: true } }, { headers: { 'if-match': computeEtag(afterSecond) } }),
  ])
  assert.equal(first!.statusCode, 200)
  assert.equal(stale!.statusCode, 412)
  assert.equal(second!.statusCode, 200)
  assert.equal(third!.statusCode, 200)
  assert.equal(staleAgain!.statusCode, 412)
  assert.deepEqual(simulator.getSession(id)!.metadata, { events: [], n: 3 })
  assert.equal(upstreamCalls(simulator, 'PATCH'), 2, 'the first alone, then one coalesced write')
  assert.equal(second!.headers.etag, third!.headers.etag, 'every caller of a batch gets the resulting session')
})

test('a batch holds at most MAX_BATCH patches', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { MAX_BATCH: '4' } })
  simulator.setLatency({ op: 'read', ms: 20 })
  const id = simulator.seededSessionIds[0]!
  await Promise.all(Array.from({ length: 13 }, (_, i) => patchSession(app, id, { metadata: { [`k${i}`]: i } })))
  // 1 alone, then 12 waiting in batches of 4.
  assert.equal(upstreamCalls(simulator, 'PATCH'), 4)
})

test('a batched write rejected by AiFi is retried one patch at a time, so only the offending caller fails', async (t) => {
  const { app, simulator } = await startTestApp(t)
  simulator.setLatency({ op: 'read', ms: 30 })
  const id = simulator.seededSessionIds[0]!
  const errors = [{ error: '"metadata" is too large', rule: 'object.max', field: '"metadata"' }]
  const body = { message: 'Invalid request body', type: 'E_INVALID_BODY', errors }
  simulator.injectFault({ op: 'write', kind: 'status', status: 400, body, count: 2 })

  const [alone, batchedA, batchedB] = await Promise.all([
    patchSession(app, id, { metadata: { a: 1 } }),
    patchSession(app, id, { metadata: { b: 2 } }),
    patchSession(app, id, { metadata: { c: 3 } }),
  ])
  assert.equal(alone!.statusCode, 422)
  assert.equal(alone!.json().type, 'E_UPSTREAM_REJECTED')
  assert.deepEqual(alone!.json().errors, errors)
  assert.equal(batchedA!.statusCode, 200)
  assert.equal(batchedB!.statusCode, 200)
  const metadata = simulator.getSession(id)!.metadata as JsonObject
  assert.equal(metadata.a, undefined, 'the rejected patch was not applied')
  assert.equal(metadata.b, 2)
  assert.equal(metadata.c, 3)
  // The lone write, the rejected batch, then the two patches one by one.
  assert.equal(upstreamCalls(simulator, 'PATCH'), 4)
})

test('sessions have independent queues: a stuck session does not hold up another', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { UPSTREAM_TIMEOUT_MS: '1000' } })
  const [stuckId, freeId] = simulator.seededSessionIds as [string, string]
  simulator.injectFault({ op: 'write', kind: 'hang', count: 1 })
  const order: string[] = []
  const stuck = patchSession(app, stuckId, { metadata: { a: 1 } }).then((response) => {
    order.push('stuck')
    return response
  })
  // The hang is taken by the first write; wait until the stuck session's write has been sent.
  await until(() => upstreamCalls(simulator, 'PATCH') > 0)
  const free = await patchSession(app, freeId, { metadata: { b: 1 } })
  order.push('free')
  assert.equal(free.statusCode, 200)
  assert.equal((await stuck).statusCode, 200, 'the timed-out write was re-run and landed')
  assert.deepEqual(order, ['free', 'stuck'])
})

test('waiting longer than LOCK_WAIT_MS for the session turn is 503 E_LOCK_TIMEOUT with Retry-After', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { LOCK_WAIT_MS: '50', UPSTREAM_TIMEOUT_MS: '400' } })
  const id = simulator.seededSessionIds[0]!
  simulator.injectFault({ op: 'write', kind: 'hang', count: 1 })
  const first = patchSession(app, id, { metadata: { a: 1 } })
  await until(() => upstreamCalls(simulator, 'PATCH') > 0)
  const waiting = await patchSession(app, id, { metadata: { b: 1 } })
  assert.equal(waiting.statusCode, 503)
  assert.equal(waiting.json().type, 'E_LOCK_TIMEOUT')
  assert.equal(waiting.headers['retry-after'], '1')
  assert.equal((await first).statusCode, 200)
  assert.equal((simulator.getSession(id)!.metadata as JsonObject).b, undefined)
})

test('a 412 judged against a batch that AiFi then rejects is judged again on its own', async (t) => {
  const { app, simulator } = await startTestApp(t)
  simulator.setLatency({ op: 'read', ms: 30 })
  const session = simulator.createSession({ metadata: { events: [], kept: 1 } })
  const id = session.sessionId!
  const before = computeEtag(session.metadata)
  // The batch write and the first patch's own retry are refused; the second patch never conflicted with anything.
  simulator.injectFault({ op: 'write', kind: 'status', status: 413, count: 2 })
  const [noop, refused, guarded] = await Promise.all([
    patchSession(app, id, { metadata: { kept: 1 } }),
    patchSession(app, id, { metadata: { big: 'x' } }),
    patchSession(app, id, { metadata: { b: 1 } }, { headers: { 'if-match': before } }),
  ])
  assert.equal(noop!.headers['x-merge-result'], 'noop')
  assert.equal(refused!.statusCode, 422)
  assert.equal(refused!.json().type, 'E_UPSTREAM_REJECTED')
  assert.equal(guarded!.statusCode, 200, 'nothing landed before it, so its If-Match still held')
  assert.deepEqual(simulator.getSession(id)!.metadata, { events: [], kept: 1, b: 1 })
})

test('a head whose turn ran out is answered 503 and the patch behind it is served in the same pass', async (t) => {
  let giveUp!: () => void
  const headGivesUp = new Promise<void>((resolve) => (giveUp = resolve))
  let acquisitions = 0
  // The first wait for the lock ends empty-handed when the test says so; every later one gets the lock at once.
  const lock: SessionLock = {
    acquire: async () => (++acquisitions === 1 ? (await headGivesUp, undefined) : { confirm: async () => true, release: async () => {} }),
    isReady: async () => true,
    releaseAll: async () => {},
  }
  const { app, simulator } = await startTestApp(t, { lock })
  const id = simulator.seededSessionIds[0]!
  const head = patchSession(app, id, { metadata: { head: true } })
  await until(() => app.sessionQueues.inFlight() === 1)
  const next = patchSession(app, id, { metadata: { next: true } })
  await until(() => app.sessionQueues.inFlight() === 2)
  giveUp()

  const [refused, served] = await Promise.all([head, next])
  assert.equal(refused.statusCode, 503)
  assert.equal(refused.json().type, 'E_LOCK_TIMEOUT')
  assert.equal(served.statusCode, 200)
  const metadata = simulator.getSession(id)!.metadata as JsonObject
  assert.deepEqual([metadata.head, metadata.next], [undefined, true])
})
