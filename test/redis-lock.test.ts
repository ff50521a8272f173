import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import type { QuotaStore } from '../src/quota/quota.ts'
import { createLogger } from '../src/logger.ts'
import { createRedisLock, type LockRedisClient } from '../src/redis/redis-lock.ts'
import { ACQUIRE_LOCK } from '../src/redis/scripts.ts'
import type { JsonObject } from '../src/schemas.ts'
import { startSimulator } from '../src/simulator/simulator.ts'
import { getSession, patchSession, startTestApp, until, upstreamCalls } from './helper.ts'
import { connectSecondClient, connectTestRedis, createRedisCoordination } from './cluster-helper.ts'

test('two replicas sharing Redis lose no key and never write one session at once', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  simulator.setLatency({ op: 'all', ms: 3 })
  const shared = await createRedisCoordination(t, redis)
  const replicaA = await startTestApp(t, { simulator, lock: shared.lock })
  const replicaB = await startTestApp(t, { simulator, lock: shared.lock })
  const id = simulator.seededSessionIds[0]!
  const events = JSON.stringify((simulator.getSession(id)!.metadata as JsonObject).events)

  const responses = await Promise.all(
    Array.from({ length: 100 }, (_, i) => patchSession(i % 2 ? replicaA.app : replicaB.app, id, { metadata: { [`k${i}`]: i } })),
  )
  assert.deepEqual(new Set(responses.map((response) => response.statusCode)), new Set([200]))
  const metadata = simulator.getSession(id)!.metadata as JsonObject
  for (let i = 0; i < 100; i++) assert.equal(metadata[`k${i}`], i)
  assert.equal(JSON.stringify(metadata.events), events)
  assert.equal(simulator.counters().maxConcurrentPatches[id], 1)
})

test('a lock left by a crashed replica is taken once it expires; waiting is bounded by LOCK_WAIT_MS', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const shared = await createRedisCoordination(t, redis)
  const { app, simulator } = await startTestApp(t, { lock: shared.lock, env: { LOCK_WAIT_MS: '150' } })
  const id = simulator.seededSessionIds[0]!

  await redis.set(shared.lockKey(id), 'crashed-replica', { expiration: { type: 'PX', value: 5_000 } })
  const refused = await patchSession(app, id, { metadata: { a: 1 } })
  assert.equal(refused.statusCode, 503)
  assert.equal(refused.json().type, 'E_LOCK_TIMEOUT')
  assert.ok(refused.headers['retry-after'])
  assert.equal(simulator.counters().log.length, 0, 'nothing reached AiFi without the lock')

  await redis.set(shared.lockKey(id), 'crashed-replica', { expiration: { type: 'PX', value: 100 } })
  const taken = await patchSession(app, id, { metadata: { a: 2 } })
  assert.equal(taken.statusCode, 200)
  assert.equal((simulator.getSession(id)!.metadata as JsonObject).a, 2)
  assert.equal(await redis.exists(shared.lockKey(id)), 0, 'released after the write')
})

test('a lease lost during the read sends no write; the cycle runs again under a new lease', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const shared = await createRedisCoordination(t, redis)
  const { app, simulator } = await startTestApp(t, { lock: shared.lock })
  const id = simulator.seededSessionIds[0]!
  simulator.setLatency({ op: 'read', ms: 150 })

  const pending = patchSession(app, id, { metadata: { a: 1 } })
  await until(async () => (await redis.exists(shared.lockKey(id))) === 1)
  // Another replica takes the lock as if this lease had expired.
  await redis.set(shared.lockKey(id), 'other-replica', { expiration: { type: 'PX', value: 250 } })
  const response = await pending

  assert.equal(response.statusCode, 200)
  assert.equal(upstreamCalls(simulator, 'PATCH'), 1, 'only the cycle under the new lease wrote')
  assert.equal(upstreamCalls(simulator, 'GET'), 2)
  assert.equal((simulator.getSession(id)!.metadata as JsonObject).a, 1)
})

test('release deletes only its own lock', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const shared = await createRedisCoordination(t, redis)
  const lease = await shared.lock.acquire('s1', 100)
  assert.ok(lease)
  assert.equal(await lease.confirm(), true)
  assert.equal(await shared.lock.acquire('s1', 50), undefined, 'held: a second acquire waits, then gives up')
  await redis.set(shared.lockKey('s1'), 'someone-else')
  assert.equal(await lease.confirm(), false)
  await lease.release()
  assert.equal(await redis.get(shared.lockKey('s1')), 'someone-else')
})

test('/readyz reports Redis', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const own = await connectSecondClient(t, redis)
  const { app } = await startTestApp(t, { lock: (await createRedisCoordination(t, own)).lock })
  const ready = await app.inject({ method: 'GET', url: '/readyz' })
  assert.equal(ready.statusCode, 200)
  own.destroy()
  const down = await app.inject({ method: 'GET', url: '/readyz' })
  assert.equal(down.statusCode, 503)
  assert.equal(down.json().lock, 'down')
})

test('after a lost lease the re-run judges If-Match again, so another replica\'s write is not overwritten', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const shared = await createRedisCoordination(t, redis)
  const { app, simulator } = await startTestApp(t, { lock: shared.lock })
  const session = simulator.createSession({ metadata: { events: [], a: 1 } })
  const id = session.sessionId!
  const etag = String((await getSession(app, id)).headers.etag)
  simulator.setLatency({ op: 'read', ms: 150 })

  const pending = patchSession(app, id, { metadata: { a: 2 } }, { headers: { 'if-match': etag } })
  await until(async () => (await redis.exists(shared.lockKey(id))) === 1)
  // Another replica takes the lock and writes while this one is still reading.
  await redis.set(shared.lockKey(id), 'other-replica', { expiration: { type: 'PX', value: 200 } })
  const other = await fetch(`${simulator.url}/api/admin/v2/sessions/${id}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${simulator.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ metadata: { events: [], a: 999 } }),
  })
  assert.equal(other.status, 200)
  const response = await pending

  assert.equal(response.statusCode, 412)
  assert.equal((simulator.getSession(id)!.metadata as JsonObject).a, 999)
})

test('a stalled Redis answers 503 E_COORDINATION_UNAVAILABLE promptly instead of hanging the request', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const admin = await connectSecondClient(t, redis)
  const probe = await connectSecondClient(t, redis)
  const shared = await createRedisCoordination(t, redis)
  const { app, simulator } = await startTestApp(t, { lock: shared.lock })
  await admin.sendCommand(['CLIENT', 'PAUSE', '3000', 'WRITE'])
  // A write of the test's own is held by the pause too, so it settles when the pause ends: the answer must come first.
  const pauseEnded = probe.set(`test:${randomUUID()}:probe`, '1', { expiration: { type: 'PX', value: 1_000 } }).then(() => 'the pause ended')
  const answer = patchSession(app, simulator.seededSessionIds[0]!, { metadata: { a: 1 } })
  let first
  try {
    first = await Promise.race([answer.then(() => 'the answer'), pauseEnded])
  } finally {
    await admin.sendCommand(['CLIENT', 'UNPAUSE'])
  }
  assert.equal(first, 'the answer', 'bounded by the Redis call timeout, not by the pause')
  await pauseEnded
  const response = await answer
  assert.equal(response.statusCode, 503)
  assert.equal(response.json().type, 'E_COORDINATION_UNAVAILABLE')
  assert.equal(response.headers['retry-after'], '1')
  assert.equal(simulator.counters().log.length, 0)
})

test('a waiting replica wakes on the published release, not by polling Redis', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const subscriber = await connectSecondClient(t, redis)
  const prefix = `test:${randomUUID()}:lock:`
  const logger = createLogger({ logLevel: 'silent' })
  // A lease far longer than the wait: a waiter that missed the release would give up before the lease ran out.
  const ttlMs = 60_000
  const holder = createRedisLock({ client: redis, ttlMs, logger, keyPrefix: prefix })
  let acquireCalls = 0
  const counting: LockRedisClient = {
    isReady: true,
    ping: () => redis.ping(),
    eval: ((script: string, options: Parameters<typeof redis.eval>[1]) => {
      if (script === ACQUIRE_LOCK) acquireCalls++
      return redis.eval(script, options)
    }) as LockRedisClient['eval'],
  }
  const waiter = createRedisLock({
    client: counting,
    notices: { subscribe: (channel, onMessage) => subscriber.subscribe(channel, onMessage) },
    ttlMs,
    logger,
    keyPrefix: prefix,
  })
  await waiter.listen()

  const held = await holder.acquire('s', 0)
  assert.ok(held)
  const waiting = waiter.acquire('s', 15_000)
  await until(() => acquireCalls === 1)
  await held.release()
  // Without the notice the waiter would sleep to the end of its 15 s wait; a notice takes milliseconds.
  let timer: NodeJS.Timeout | undefined
  const fallback = new Promise<'slept'>((resolve) => (timer = setTimeout(() => resolve('slept'), 5_000)))
  const lease = await Promise.race([waiting, fallback]).finally(() => clearTimeout(timer))
  assert.notEqual(lease, 'slept', 'woken by the release notice')
  assert.ok(lease && lease !== 'slept', 'the waiter got the lock once it was released')
  assert.equal(acquireCalls, 2, 'one try before the release, one after its notice')
  await lease.release()
})

test('a cycle whose callers all gave up during the token wait hands its lease back at once', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const shared = await createRedisCoordination(t, redis, { ttlMs: 60_000 })
  let openGate!: () => void
  const gate = new Promise<void>((resolve) => (openGate = resolve))
  let tokensGranted!: () => void
  const granted = new Promise<void>((resolve) => (tokensGranted = resolve))
  let reservations = 0
  // The first reservation is held until the test opens the gate; the ones after it are granted at once.
  const quota: QuotaStore = {
    burst: 4,
    async book() {
      if (++reservations === 1) {
        await gate
        setImmediate(tokensGranted)
      }
      return { granted: true, waitMs: 0 }
    },
    pause: async () => {},
  }
  const { app, simulator } = await startTestApp(t, { lock: shared.lock, quota, env: { LOCK_WAIT_MS: '300', REQUEST_DEADLINE_MS: '600' } })
  const id = simulator.seededSessionIds[0]!

  const abandoned = await patchSession(app, id, { metadata: { first: 'A' } })
  assert.equal(abandoned.statusCode, 503)
  // A wait for the quota is the quota's to refuse, never a lock timeout (docs/consistency.md#sharing-the-quota).
  assert.equal(abandoned.json().type, 'E_QUOTA_EXHAUSTED')
  // The quota's refusal ends the cycle's wait at once, though the store still has not answered: the lease goes back.
  await until(async () => (await redis.exists(shared.lockKey(id))) === 0)
  openGate()
  await granted

  // Without the hand-back the lease would be renewed for as long as the process lives, and this would wait in vain.
  const next = await patchSession(app, id, { metadata: { second: 'B' } })
  assert.equal(next.statusCode, 200)
  assert.equal(await redis.exists(shared.lockKey(id)), 0)
  const metadata = simulator.getSession(id)!.metadata as JsonObject
  assert.equal(metadata.second, 'B')
  assert.equal(metadata.first, undefined, 'the abandoned patch was never applied')
  assert.equal(upstreamCalls(simulator, 'PATCH'), 1)
})
