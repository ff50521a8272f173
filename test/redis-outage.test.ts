import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { createClient } from 'redis'
import { loadConfig } from '../src/config.ts'
import { createLogger } from '../src/logger.ts'
import { createMetrics } from '../src/metrics.ts'
import { connectRedisCoordination } from '../src/redis/redis-coordination.ts'
import type { JsonObject } from '../src/schemas.ts'
import { startSimulator } from '../src/simulator/simulator.ts'
import { freePort, hasRedisServer, startRedisServer } from './cluster-helper.ts'
import { getSession, patchSession, startTestApp, until, upstreamCalls } from './helper.ts'

test('Redis down: 503 E_COORDINATION_UNAVAILABLE at once, readyz 503, nothing written; back within 1 s, nothing lost', async (t) => {
  if (!hasRedisServer) {
    if (process.env.CI === 'true') throw new Error('redis-server is required in CI')
    return t.skip('redis-server is not installed')
  }
  const port = await freePort()
  let redis = await startRedisServer(t, port)
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  const config = loadConfig({ AIFI_BASE_URL: simulator.url, REDIS_URL: `redis://127.0.0.1:${port}`, LOG_LEVEL: 'silent' })
  const metrics = createMetrics()
  const shared = await connectRedisCoordination({ ...config, redisUrl: config.redisUrl! }, { logger: createLogger(config), metrics, aifiOrigin: new URL(simulator.url).origin })
  t.after(() => shared.close())
  const { coordination } = shared
  const { app } = await startTestApp(t, { simulator, metrics, coordination })
  await until(() => coordination.lock.isReady())
  const id = simulator.createSession({ metadata: { events: [] } }).sessionId!

  // Four callers patch in a loop, each with keys of its own, until the test says stop.
  const acknowledged: string[] = []
  const answers: Array<{ status: number; type?: string; retryAfter?: string }> = []
  let stop = false
  const caller = async (name: string) => {
    for (let n = 0; !stop && n < 5_000; n++) {
      const key = `${name}-${n}`
      const response = await patchSession(app, id, { metadata: { [key]: n } })
      if (response.statusCode === 200) acknowledged.push(key)
      else answers.push({ status: response.statusCode, type: response.json().type, retryAfter: response.headers['retry-after'] as string })
    }
  }
  const callers = Promise.all(['a', 'b', 'c', 'd'].map(caller))
  await until(() => acknowledged.length >= 20)

  redis.kill('SIGKILL')
  await once(redis, 'exit')
  await until(() => answers.length >= 20)
  assert.equal((await app.inject('/readyz')).statusCode, 503)
  const readsDuringOutage = await getSession(app, id)
  assert.equal(readsDuringOutage.statusCode, 503, 'a read needs the quota, which lives in Redis')
  assert.equal(readsDuringOutage.json().type, 'E_COORDINATION_UNAVAILABLE')
  const writesBefore = upstreamCalls(simulator, 'PATCH')
  await until(() => answers.length >= 40)
  assert.equal(upstreamCalls(simulator, 'PATCH'), writesBefore, 'nothing is written while Redis is down')

  const acknowledgedBeforeRestart = acknowledged.length
  redis = await startRedisServer(t, port)
  const answeringAgain = performance.now()
  await until(() => acknowledged.length > acknowledgedBeforeRestart)
  const resumedMs = performance.now() - answeringAgain
  stop = true
  await callers

  assert.ok(resumedMs <= 1_000, `service resumed ${Math.round(resumedMs)} ms after Redis answered again`)
  // A patch sent while Redis is down is refused unqueued; one queued when Redis died may have been taken by a holder
  // before, so its caller is told it may have been applied. Each caller has one patch in flight at a time.
  for (const answer of answers) assert.ok(['E_COORDINATION_UNAVAILABLE', 'E_COORDINATION_LOST'].includes(answer.type!), answer.type)
  for (const answer of answers) assert.deepEqual({ ...answer, type: undefined }, { status: 503, type: undefined, retryAfter: '1' })
  assert.ok(answers.filter((answer) => answer.type === 'E_COORDINATION_LOST').length <= 4, 'only patches in flight at the kill')
  const stored = simulator.getSession(id)!.metadata as JsonObject
  for (const key of acknowledged) assert.ok(key in stored, `acknowledged ${key} is stored`)
  assert.match(await metrics.registry.metrics(), /^aifi_proxy_redis_errors_total\{operation="(lock|quota)"\} [1-9]/m)
})

test('readyz is 503 while the subscribed connection, which carries lock releases and settlements, is down', async (t) => {
  if (!hasRedisServer) {
    if (process.env.CI === 'true') throw new Error('redis-server is required in CI')
    return t.skip('redis-server is not installed')
  }
  const port = await freePort()
  await startRedisServer(t, port)
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  const config = loadConfig({ AIFI_BASE_URL: simulator.url, REDIS_URL: `redis://127.0.0.1:${port}`, LOG_LEVEL: 'silent' })
  const shared = await connectRedisCoordination({ ...config, redisUrl: config.redisUrl! }, { logger: createLogger(config), metrics: createMetrics(), aifiOrigin: new URL(simulator.url).origin })
  t.after(() => shared.close())
  const { coordination } = shared
  const { app } = await startTestApp(t, { simulator, coordination })
  await until(async () => (await app.inject('/readyz')).statusCode === 200)
  const admin = createClient({ url: `redis://127.0.0.1:${port}` })
  admin.on('error', () => {})
  await admin.connect()
  t.after(() => admin.close())

  // No room for a new connection: the subscribed one, once cut, cannot come back while the other stays up.
  await admin.configSet('maxclients', '2')
  await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub'])
  await until(async () => (await app.inject('/readyz')).statusCode === 503)
  assert.equal(await admin.ping(), 'PONG', 'Redis itself still answers')

  await admin.configSet('maxclients', '100')
  await until(async () => (await app.inject('/readyz')).statusCode === 200)
})
