import assert from 'node:assert/strict'
import { sessionTag } from '../src/redis/redis-keys.ts'
import { randomUUID } from 'node:crypto'
import { test, type TestContext } from 'node:test'
import { loadConfig } from '../src/config.ts'
import { createLogger } from '../src/logger.ts'
import { createMetrics } from '../src/metrics.ts'
import { createCoordination } from '../src/redis/coordination.ts'
import type { JsonObject } from '../src/schemas.ts'
import { startSimulator, type Simulator } from '../src/simulator/simulator.ts'
import { patchSession, startTestApp, until } from './helper.ts'
import { REDIS_URL, type ServerProcess, connectTestRedis, patchOverHttp, startReplicaProcess } from './cluster-helper.ts'

const LOCK_TTL_MS = 1_500
const lockKey = (id: string) => `aifi-merge-proxy:lock:${sessionTag(id)}`

/** A replica as its own process, on the shared Redis and the test's simulator. */
function startReplica(t: TestContext, simulator: Simulator, env: Record<string, string> = {}): Promise<ServerProcess> {
  return startReplicaProcess(t, simulator, { LOCK_TTL_MS: String(LOCK_TTL_MS), ...env })
}


const writeSent = (simulator: Simulator) => () => simulator.counters().log.some((call) => call.method === 'PATCH')

test('a replica killed while holding a session lock: another replica writes that session within LOCK_TTL_MS + 1 s', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  const id = simulator.createSession({ metadata: { events: [{ eventId: randomUUID() }] } }).sessionId!
  const doomed = await startReplica(t, simulator)
  // A survivor in this process, on the same Redis keys as the replica process.
  const config = loadConfig({ AIFI_BASE_URL: simulator.url, REDIS_URL, LOCK_TTL_MS: String(LOCK_TTL_MS), LOG_LEVEL: 'silent' })
  const metrics = createMetrics()
  const coordination = await createCoordination(config, { logger: createLogger(config), metrics, aifiOrigin: new URL(simulator.url).origin })
  t.after(() => coordination.close())
  await until(() => coordination.lock.isReady())
  const survivor = await startTestApp(t, { simulator, lock: coordination.lock, metrics, env: { LOCK_TTL_MS: String(LOCK_TTL_MS) } })

  simulator.injectFault({ op: 'write', kind: 'hang', count: 1 })
  patchOverHttp(doomed.port, id, { lost: true })
  await until(writeSent(simulator))
  assert.equal(await redis.exists(lockKey(id)), 1, 'the doomed replica holds the lock while its write hangs')
  // This caller waits for the lock (LOCK_WAIT_MS is 10 s): it must be served once the lease runs out, not refused.
  const waiting = patchSession(survivor.app, id, { metadata: { served: true } })

  doomed.kill('SIGKILL')
  const killedAt = performance.now()
  const response = await waiting
  const failoverMs = performance.now() - killedAt
  assert.equal(response.statusCode, 200)
  assert.equal((simulator.getSession(id)!.metadata as JsonObject).served, true)
  assert.ok(failoverMs <= LOCK_TTL_MS + 1_000, `written ${Math.round(failoverMs)} ms after the kill`)
  assert.match(await metrics.registry.metrics(), /^aifi_proxy_lock_takeovers_total 1$/m)
})

test('SIGTERM hands back the locks of cycles that did not finish in SHUTDOWN_GRACE_MS', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  const id = simulator.createSession({ metadata: {} }).sessionId!
  // A lease far longer than the test: only a hand-back can free the lock in time.
  const replica = await startReplica(t, simulator, { SHUTDOWN_GRACE_MS: '200', LOCK_TTL_MS: '60000' })
  simulator.injectFault({ op: 'write', kind: 'hang', count: 1 })
  patchOverHttp(replica.port, id, { stuck: true })
  await until(writeSent(simulator))
  assert.equal(await redis.exists(lockKey(id)), 1)

  replica.kill('SIGTERM')
  assert.equal(await replica.exited, 1, 'the grace period ran out')
  assert.equal(await redis.exists(lockKey(id)), 0, 'the lock was handed back, not left to expire')
})
