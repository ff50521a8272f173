import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { IdempotencyStore } from '../src/idempotency/idempotency-store.ts'
import { createMemoryIdempotencyStore } from '../src/idempotency/memory-store.ts'
import type { JsonObject } from '../src/schemas.ts'
import { patchSession, startTestApp, until, upstreamCalls } from './helper.ts'
import { connectTestRedis, createRedisCoordination } from './cluster-helper.ts'

type StoreFactory = (t: TestContext) => Promise<IdempotencyStore | undefined>

const stores: Array<[string, StoreFactory]> = [
  ['in memory', async () => createMemoryIdempotencyStore()],
  [
    'in Redis',
    async (t) => {
      const redis = await connectTestRedis(t)
      return redis && (await createRedisCoordination(t, redis)).idempotency
    },
  ],
]

for (const [where, createStore] of stores) {
  test(`Idempotency-Key ${where}: a retry replays the first answer without writing again`, async (t) => {
    const idempotency = await createStore(t)
    if (idempotency === undefined) return
    const { app, simulator } = await startTestApp(t, { idempotency })
    const id = simulator.seededSessionIds[0]!
    const headers = { 'idempotency-key': 'order-1' }
    const first = await patchSession(app, id, { metadata: { tier: 'gold' } }, { headers: { ...headers, 'x-request-id': 'first' } })
    await patchSession(app, id, { metadata: { tier: 'platinum' } })
    const retry = await patchSession(app, id, { metadata: { tier: 'gold' } }, { headers: { ...headers, 'x-request-id': 'retry' } })

    assert.equal(retry.statusCode, 200)
    assert.equal(retry.headers['idempotency-replayed'], 'true')
    assert.equal(retry.body, first.body)
    assert.equal(retry.headers.etag, first.headers.etag)
    assert.equal(retry.headers['x-merge-result'], first.headers['x-merge-result'])
    assert.equal(retry.headers['x-request-id'], 'retry')
    assert.equal((simulator.getSession(id)!.metadata as JsonObject).tier, 'platinum', 'the old patch was not re-applied')
    assert.equal(upstreamCalls(simulator, 'PATCH'), 2)
  })

  test(`Idempotency-Key ${where}: another body is 422, a running first request 409, an error frees the key`, async (t) => {
    const idempotency = await createStore(t)
    if (idempotency === undefined) return
    const { app, simulator } = await startTestApp(t, { idempotency, env: { UPSTREAM_RETRIES: '0', REQUEST_DEADLINE_MS: '2000' } })
    const id = simulator.seededSessionIds[0]!
    const headers = { 'idempotency-key': 'k-1' }

    simulator.setLatency({ op: 'write', ms: 150 })
    const running = patchSession(app, id, { metadata: { a: 1 } }, { headers })
    await until(() => upstreamCalls(simulator, 'GET') > 0)
    const concurrent = await patchSession(app, id, { metadata: { a: 1 } }, { headers })
    assert.equal(concurrent.statusCode, 409)
    assert.equal(concurrent.json().type, 'E_IDEMPOTENCY_IN_PROGRESS')
    assert.equal(concurrent.headers['retry-after'], '1')
    assert.equal((await running).statusCode, 200)
    simulator.setLatency({ op: 'write', ms: 0 })

    const mismatch = await patchSession(app, id, { metadata: { a: 2 } }, { headers })
    assert.equal(mismatch.statusCode, 422)
    assert.equal(mismatch.json().type, 'E_IDEMPOTENCY_MISMATCH')
    const otherQuery = await patchSession(app, id, { metadata: { a: 1 } }, { headers, query: '?dryRun=false' })
    assert.equal(otherQuery.statusCode, 422, 'the query is part of the request')

    simulator.injectFault({ op: 'read', kind: 'status', status: 500, count: 1 })
    const failed = await patchSession(app, id, { metadata: { b: 1 } }, { headers: { 'idempotency-key': 'k-2' } })
    assert.equal(failed.statusCode, 503)
    const again = await patchSession(app, id, { metadata: { b: 1 } }, { headers: { 'idempotency-key': 'k-2' } })
    assert.equal(again.statusCode, 200)
    assert.equal(again.headers['idempotency-replayed'], undefined)
  })
}

test('Idempotency-Key is scoped per caller and must be 1 to 255 characters', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  const mine = await patchSession(app, id, { metadata: { a: 1 } }, { headers: { 'idempotency-key': 'shared' } })
  const theirs = await patchSession(app, id, { metadata: { a: 2 } }, {
    headers: { 'idempotency-key': 'shared', authorization: 'Bearer second-key' },
  })
  assert.equal(mine.statusCode, 200)
  assert.equal(theirs.statusCode, 200)
  assert.equal(theirs.headers['idempotency-replayed'], undefined)
  for (const key of ['', 'k'.repeat(256)]) {
    const response = await patchSession(app, id, { metadata: { a: 3 } }, { headers: { 'idempotency-key': key } })
    assert.equal(response.statusCode, 400)
    assert.equal(response.json().type, 'E_INVALID_BODY')
  }
  const longest = await patchSession(app, id, { metadata: { a: 3 } }, { headers: { 'idempotency-key': 'k'.repeat(255) } })
  assert.equal(longest.statusCode, 200)
})

test('the in-memory store forgets answers after its TTL, and an expired answer no longer counts against its caller', async () => {
  let now = 0
  const store = createMemoryIdempotencyStore({ maxKeysPerCaller: 2, ttlMs: 1_000, now: () => now })
  const response = { statusCode: 200, body: '{}', etag: '"e"', mergeResult: 'applied' }
  const claim = (key: string) => ({ callerScope: 'key:a', scopedKey: `key:a:${key}`, fingerprint: 'f' })
  for (const key of ['a', 'b']) {
    await store.begin(claim(key))
    await store.complete(claim(key), response)
  }
  now = 1_000
  assert.equal((await store.begin(claim('a'))).kind, 'started', 'expired after the TTL')
  await store.complete(claim('a'), response)
  await store.begin(claim('c'))
  await store.complete(claim('c'), response)
  for (const key of ['a', 'c']) assert.equal((await store.begin(claim(key))).kind, 'replay', `${key}: the expired b made room`)
})
