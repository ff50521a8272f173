import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createClient } from 'redis'
import { createRedisLock } from '../src/redis/redis-lock.ts'
import { createLogger } from '../src/logger.ts'
import { startTestApp } from './helper.ts'
import { connectTestRedis, createRedisCoordination } from './cluster-helper.ts'

test('/healthz and /readyz answer 200 without credentials when the proxy can serve', async (t) => {
  const { app } = await startTestApp(t)
  const health = await app.inject('/healthz')
  assert.equal(health.statusCode, 200)
  assert.deepEqual(health.json(), { status: 'ok' })
  const readiness = await app.inject('/readyz')
  assert.equal(readiness.statusCode, 200)
  assert.deepEqual(readiness.json(), { status: 'ready', draining: false, lock: 'ok' })
  assert.equal((await app.inject({ method: 'POST', url: '/readyz' })).statusCode, 405)
})

test('/readyz is 503 while the configured Redis is down, and 200 again once it answers', async (t) => {
  const client = await connectTestRedis(t)
  if (client === undefined) return
  const shared = await createRedisCoordination(t, client)
  const { app } = await startTestApp(t, { coordination: shared })
  assert.equal((await app.inject('/readyz')).statusCode, 200)

  client.destroy()
  const down = await app.inject('/readyz')
  assert.equal(down.statusCode, 503)
  assert.deepEqual(down.json(), { status: 'unavailable', draining: false, lock: 'down' })
  assert.equal((await app.inject('/healthz')).statusCode, 200, 'alive: restarting would not bring Redis back')

  await client.connect()
  assert.equal((await app.inject('/readyz')).statusCode, 200)
})

test('/readyz is 503 while a configured Redis has never been reached', async (t) => {
  // Never connected, as when Redis is down at start-up: no Redis server is needed for this one.
  const client = createClient()
  const lock = createRedisLock({ client, ttlMs: 30_000, logger: createLogger({ logLevel: 'silent' }) })
  const { app } = await startTestApp(t, { lock })
  const readiness = await app.inject('/readyz')
  assert.equal(readiness.statusCode, 503)
  assert.equal(readiness.json().lock, 'down')
})
