import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test, type TestContext } from 'node:test'
import { createClient, type RedisClientType } from 'redis'
import { loadConfig } from '../src/config.ts'
import { createLogger } from '../src/logger.ts'
import { createMetrics } from '../src/metrics.ts'
import { connectRedis, connectRedisCoordination } from '../src/redis/redis-coordination.ts'
import { sessionTag } from '../src/redis/redis-keys.ts'
import type { JsonObject } from '../src/schemas.ts'
import { startSimulator, type Simulator } from '../src/simulator/simulator.ts'
import { connectTestRedis, createRedisCoordination, freePort, hasRedisServer, REDIS_URL, startRedisServer } from './cluster-helper.ts'
import { patchSession, startTestApp, until } from './helper.ts'
import { startTcpForwarder } from './tcp-forwarder.ts'

// An answer that says "not applied" is final, whatever Redis does next; where a replica cannot know, it says so
// (E_COORDINATION_LOST); and every waiting caller has its answer soon after Redis fails, never as an AiFi fault
// (docs/consistency.md#what-an-answer-means).

function requireRedisServer(t: TestContext): boolean {
  if (hasRedisServer) return true
  if (process.env.CI === 'true') throw new Error('redis-server is required in CI')
  t.skip('redis-server is not installed')
  return false
}

async function simulatorFor(t: TestContext): Promise<Simulator> {
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  return simulator
}

/** A replica in this process on the Redis at `url`, wired as src/server.ts wires one. */
async function replicaOn(t: TestContext, simulator: Simulator, url: string) {
  const config = loadConfig({ AIFI_BASE_URL: simulator.url, REDIS_URL: url, LOG_LEVEL: 'silent' })
  const shared = await connectRedisCoordination({ ...config, redisUrl: url }, { logger: createLogger(config), metrics: createMetrics(), aifiOrigin: new URL(simulator.url).origin })
  t.after(() => shared.close())
  await until(() => shared.coordination.isReady())
  return startTestApp(t, { simulator, coordination: shared.coordination })
}

test('a push Redis ran after its caller was answered E_COORDINATION_UNAVAILABLE is withdrawn, never applied', async (t) => {
  if (!requireRedisServer(t)) return
  const port = await freePort()
  await startRedisServer(t, port)
  const simulator = await simulatorFor(t)
  const { app } = await replicaOn(t, simulator, `redis://127.0.0.1:${port}`)
  const id = simulator.seededSessionIds[0]!
  const admin = createClient({ url: `redis://127.0.0.1:${port}` })
  admin.on('error', () => {})
  await admin.connect()
  t.after(() => admin.destroy())

  // Longer than a Redis call's bound (1 s): the push times out, and runs once Redis answers again.
  await admin.sendCommand(['CLIENT', 'PAUSE', '1500', 'ALL'])
  const refused = await patchSession(app, id, { metadata: { refused: true } })
  assert.equal(refused.statusCode, 503)
  assert.equal(refused.json().type, 'E_COORDINATION_UNAVAILABLE')

  const next = await patchSession(app, id, { metadata: { next: true } })
  assert.equal(next.statusCode, 200)
  const metadata = simulator.getSession(id)!.metadata as JsonObject
  assert.equal(metadata.next, true)
  assert.equal(metadata.refused, undefined, 'the refused patch was never applied, by this write or any later one')
})

test('a replica cut off from Redis answers E_COORDINATION_LOST for a patch another replica could still take', { timeout: 20_000 }, async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const simulator = await simulatorFor(t)
  const forwarder = await startTcpForwarder(t, Number(new URL(REDIS_URL).port || 6379))
  const cutOff = await connectRedis(`redis://127.0.0.1:${forwarder.port}`, createLogger({ logLevel: 'silent' }))
  t.after(() => cutOff.close())
  await until(() => cutOff.client.isReady && cutOff.subscriber.isReady)
  const shared = await createRedisCoordination(t, redis)
  const lonely = await createRedisCoordination(t, cutOff.client as RedisClientType, { prefix: shared.prefix, subscriber: cutOff.subscriber as RedisClientType })
  const [a, b] = [await startTestApp(t, { simulator, coordination: lonely }), await startTestApp(t, { simulator, coordination: shared })]
  await Promise.all([shared.listening?.(), lonely.listening?.()])
  const id = simulator.seededSessionIds[0]!

  // Nobody serves the session until the test lets go of its lock: A's patch waits in the inbox.
  await redis.set(shared.lockKey(id), 'the-test', { expiration: { type: 'PX', value: 60_000 } })
  const fromA = patchSession(a.app, id, { metadata: { fromA: true } })
  await until(async () => (await redis.lLen(shared.queueKey(id))) === 1)
  forwarder.cut()
  await redis.del(shared.lockKey(id))
  const fromB = await patchSession(b.app, id, { metadata: { fromB: true } })

  assert.equal(fromB.statusCode, 200)
  const answer = await fromA
  const metadata = simulator.getSession(id)!.metadata as JsonObject
  assert.equal(metadata.fromB, true)
  assert.equal(answer.statusCode, 503)
  // B took A's patch with its own: A, which cannot hear that, must not claim it was not applied.
  assert.equal(metadata.fromA, true)
  assert.equal(answer.json().type, 'E_COORDINATION_LOST')
})

test('Redis restarting under waiting callers: the queued one hears E_COORDINATION_LOST at once, the one being written its result', { timeout: 20_000 }, async (t) => {
  if (!requireRedisServer(t)) return
  const port = await freePort()
  let server = await startRedisServer(t, port)
  const simulator = await simulatorFor(t)
  const { app } = await replicaOn(t, simulator, `redis://127.0.0.1:${port}`)
  const id = simulator.seededSessionIds[0]!
  const admin = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: () => 20 } })
  admin.on('error', () => {})
  await admin.connect()
  t.after(() => admin.destroy())
  simulator.setLatency({ op: 'write', ms: 3_000 })

  const answered: string[] = []
  const first = patchSession(app, id, { metadata: { first: true } }).then((response) => (answered.push('first'), response))
  await until(() => simulator.counters().log.some((call) => call.method === 'PATCH'))
  const second = patchSession(app, id, { metadata: { second: true } }).then((response) => (answered.push('second'), response))
  const queue = `aifi-merge-proxy:inbox:${sessionTag(id)}:queue`
  await until(async () => (await admin.lLen(queue)) === 1)

  server.kill('SIGKILL')
  await once(server, 'exit')
  server = await startRedisServer(t, port)

  const [written, queued] = await Promise.all([first, second])
  assert.deepEqual(answered, ['second', 'first'], 'the queued caller did not wait for the write in flight, nor for its deadline')
  assert.equal(queued.statusCode, 503)
  assert.equal(queued.json().type, 'E_COORDINATION_LOST', 'a Redis fault, not an AiFi one')
  assert.equal(written.statusCode, 200, 'the write in flight landed, and its caller is told so')
  assert.equal((simulator.getSession(id)!.metadata as JsonObject).first, true)
})
