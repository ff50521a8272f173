import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test, type TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import type { RedisClientType } from 'redis'
import type { IdempotencyBounds, IdempotencyStore } from '../src/idempotency/idempotency-store.ts'
import { createRedisIdempotencyStore } from '../src/redis/redis-idempotency-store.ts'
import type { JsonObject } from '../src/schemas.ts'
import { configRefusal, patchSession, startTestApp, upstreamCalls } from './helper.ts'
import { loadConfig } from '../src/config.ts'
import { connectTestRedis } from './cluster-helper.ts'

// Stored Idempotency-Key answers are bounded per caller (docs/http-api.md#idempotency-key): in memory the app builds
// its store from IDEMPOTENCY_MAX_*_PER_CALLER; in Redis the test builds one with the same bounds and a prefix of its own.

const OTHER_CALLER = { authorization: 'Bearer second-key' }

interface Where {
  idempotency?: IdempotencyStore
  /** Every Redis key the store holds, with its TTL in ms; undefined in memory. */
  keys?: () => Promise<Array<{ key: string; ttlMs: number }>>
  /** Deletes the store's Redis keys: run by the test body, as the connection closes in its first `after` hook. */
  cleanup?: () => Promise<void>
}

type StoreFactory = (t: TestContext, bounds: IdempotencyBounds) => Promise<Where | undefined>

const stores: Array<[string, StoreFactory]> = [
  ['in memory', async () => ({})],
  ['in Redis', async (t, bounds) => {
    const redis = await connectTestRedis(t)
    return redis && redisStore(redis, bounds)
  }],
]

function redisStore(redis: RedisClientType, bounds: IdempotencyBounds): Where {
  const prefix = `test:${randomUUID()}:idem`
  const idempotency = createRedisIdempotencyStore({ client: redis, runningTtlMs: 35_000, keyPrefix: `${prefix}:`, bounds })
  const keys = async () => Promise.all((await redis.keys(`${prefix}*`)).map(async (key) => ({ key, ttlMs: await redis.pTTL(key) })))
  const cleanup = async () => {
    const left = await redis.keys(`${prefix}*`)
    if (left.length > 0) await redis.del(left)
  }
  return { idempotency, keys, cleanup }
}

async function startApp(t: TestContext, where: Where, bounds: IdempotencyBounds) {
  const env = {
    AIFI_MAX_RPS: '1000',
    IDEMPOTENCY_MAX_BYTES_PER_CALLER: String(bounds.maxBytesPerCaller),
    IDEMPOTENCY_MAX_KEYS_PER_CALLER: String(bounds.maxKeysPerCaller),
  }
  return startTestApp(t, { idempotency: where.idempotency, env })
}

function keyed(app: FastifyInstance, id: string, metadata: JsonObject, key: string, headers: Record<string, string> = {}, query = '') {
  return patchSession(app, id, { metadata }, { headers: { 'idempotency-key': key, ...headers }, query })
}

for (const [name, createStore] of stores) {
  test(`Idempotency-Key ${name}: a caller over its byte bound loses its own oldest answers, never another caller's`, async (t) => {
    const bounds = { maxBytesPerCaller: 1_048_576, maxKeysPerCaller: 10_000 }
    const where = await createStore(t, bounds)
    if (where === undefined) return
    const { app, simulator } = await startApp(t, where, bounds)
    const [mine, theirs] = simulator.seededSessionIds as [string, string]

    const first = await keyed(app, theirs, { price: 10 }, 'b-1', OTHER_CALLER)
    assert.equal(first.statusCode, 200)
    assert.equal((await patchSession(app, theirs, { metadata: { price: 20 } })).statusCode, 200)

    // Every answer holds the whole session, 200 kB of it: eight of them are well over the caller's 1 MiB.
    const blob = 'x'.repeat(200_000)
    for (let i = 0; i < 8; i++) assert.equal((await keyed(app, mine, { blob, n: i }, `a-${i}`)).statusCode, 200)
    for (let i = 0; i < 40; i++) assert.equal((await keyed(app, mine, { blob, n: i }, `dry-${i}`, {}, '?dryRun=true')).statusCode, 200)

    const retry = await keyed(app, theirs, { price: 10 }, 'b-1', OTHER_CALLER)
    assert.equal(retry.headers['idempotency-replayed'], 'true', "the other caller's answer was kept")
    assert.equal(retry.body, first.body)
    assert.equal((simulator.getSession(theirs)!.metadata as JsonObject).price, 20, 'the old price was not written back')
    assert.equal((await keyed(app, mine, { blob, n: 7 }, 'a-7')).headers['idempotency-replayed'], 'true', 'the newest answer is kept')
    const writes = upstreamCalls(simulator, 'PATCH')
    const oldest = await keyed(app, mine, { blob, n: 0 }, 'a-0')
    assert.equal(oldest.statusCode, 200)
    assert.equal(oldest.headers['idempotency-replayed'], undefined, "the caller's oldest answer was dropped")
    assert.equal(upstreamCalls(simulator, 'PATCH'), writes + 1, 'so its retry is applied afresh')
    await where.cleanup?.()
  })

  test(`Idempotency-Key ${name}: a caller over its count bound loses its own oldest answer, and a dry run's answer is not kept`, async (t) => {
    const bounds = { maxBytesPerCaller: 1_048_576, maxKeysPerCaller: 3 }
    const where = await createStore(t, bounds)
    if (where === undefined) return
    const { app, simulator } = await startApp(t, where, bounds)
    const [mine, theirs] = simulator.seededSessionIds as [string, string]

    assert.equal((await keyed(app, theirs, { b: 1 }, 'b-1', OTHER_CALLER)).statusCode, 200)
    for (let i = 0; i < 4; i++) assert.equal((await keyed(app, mine, { n: i }, `a-${i}`)).statusCode, 200)
    for (let i = 0; i < 2; i++) {
      const dryRun = await keyed(app, mine, { d: 1 }, 'dry', {}, '?dryRun=true')
      assert.equal(dryRun.headers['x-merge-result'], 'dry-run')
      assert.equal(dryRun.headers['idempotency-replayed'], undefined, 'a dry run is never replayed')
    }
    assert.equal((await keyed(app, mine, { d: 1 }, '', {}, '?dryRun=true')).json().type, 'E_INVALID_BODY', "a dry run's key is still checked")

    for (let i = 1; i < 4; i++) assert.equal((await keyed(app, mine, { n: i }, `a-${i}`)).headers['idempotency-replayed'], 'true', `a-${i} kept`)
    assert.equal((await keyed(app, theirs, { b: 1 }, 'b-1', OTHER_CALLER)).headers['idempotency-replayed'], 'true')
    if (where.keys !== undefined) {
      const keys = await where.keys()
      assert.ok(!keys.some(({ key }) => key.endsWith(':dry')), 'nothing is stored for a dry run')
      for (const { key, ttlMs } of keys) assert.ok(ttlMs > 0 && ttlMs <= 24 * 3600 * 1000, `${key} expires (${ttlMs})`)
      const answers = keys.filter(({ key }) => /:key:tester:a-\d$/.test(key)).map(({ key }) => key.slice(-3))
      assert.deepEqual(answers.sort(), ['a-1', 'a-2', 'a-3'], 'the oldest answer was deleted from Redis')
    }
    assert.equal((await keyed(app, mine, { n: 0 }, 'a-0')).headers['idempotency-replayed'], undefined, 'a-0 was dropped')
    await where.cleanup?.()
  })
}

test('the per-caller bounds are settings: 16 MiB and 10,000 answers by default, at least 1 MiB', () => {
  const base = { AIFI_BASE_URL: 'http://aifi.test', AIFI_API_TOKEN: 't', PROXY_API_KEYS: 'a:b' }
  assert.deepEqual(loadConfig(base).idempotencyBounds, { maxBytesPerCaller: 16_777_216, maxKeysPerCaller: 10_000 })
  const set = loadConfig({ ...base, IDEMPOTENCY_MAX_BYTES_PER_CALLER: '2097152', IDEMPOTENCY_MAX_KEYS_PER_CALLER: '5' })
  assert.deepEqual(set.idempotencyBounds, { maxBytesPerCaller: 2_097_152, maxKeysPerCaller: 5 })
  const refused = configRefusal({ ...base, IDEMPOTENCY_MAX_BYTES_PER_CALLER: '1000', IDEMPOTENCY_MAX_KEYS_PER_CALLER: '0' })
  assert.match(refused, /IDEMPOTENCY_MAX_BYTES_PER_CALLER/)
  assert.match(refused, /IDEMPOTENCY_MAX_KEYS_PER_CALLER/)
})
