import assert from 'node:assert/strict'
import { sessionTag } from '../src/redis/redis-keys.ts'
import { randomUUID } from 'node:crypto'
import { test, type TestContext } from 'node:test'
import type { FastifyBaseLogger } from 'fastify'
import type { RedisClientType } from 'redis'
import { loadConfig } from '../src/config.ts'
import { createLogger } from '../src/logger.ts'
import { createMetrics } from '../src/metrics.ts'
import { createCoordination } from '../src/redis/coordination.ts'
import type { JsonObject } from '../src/schemas.ts'
import { startSimulator, type Simulator } from '../src/simulator/simulator.ts'
import { captureLogs, patchSession, startTestApp, until, upstreamCalls } from './helper.ts'
import { REDIS_URL, type ServerProcess, connectTestRedis, patchOverHttp, startReplicaProcess } from './cluster-helper.ts'

// Crashes around the shared inbox, with replicas as real processes killed by SIGKILL: the holder that took a
// batch, and the replica whose caller's patch waits in the inbox. The survivor is an app in this process on the
// same Redis keys.

const LOCK_TTL_MS = 1_500
const lockKey = (id: string) => `aifi-merge-proxy:lock:${sessionTag(id)}`
const inboxKey = (id: string) => `aifi-merge-proxy:inbox:${sessionTag(id)}:queue`

function startReplica(t: TestContext, simulator: Simulator, env: Record<string, string> = {}): Promise<ServerProcess> {
  return startReplicaProcess(t, simulator, { LOCK_TTL_MS: String(LOCK_TTL_MS), ...env })
}

async function startSurvivor(t: TestContext, simulator: Simulator, loggerInstance?: FastifyBaseLogger) {
  const env = { AIFI_BASE_URL: simulator.url, REDIS_URL, LOCK_TTL_MS: String(LOCK_TTL_MS), LOG_LEVEL: 'silent' }
  const config = loadConfig(env)
  const coordination = await createCoordination(config, { logger: createLogger(config), metrics: createMetrics(), aifiOrigin: new URL(simulator.url).origin })
  t.after(() => coordination.close())
  await until(() => coordination.lock.isReady())
  const { lock, limiter, idempotency, sharedInbox } = coordination
  return startTestApp(t, { simulator, lock, limiter, idempotency, sharedInbox, env, loggerInstance })
}


const sent = (simulator: Simulator, method: 'GET' | 'PATCH') => () => simulator.counters().log.some((call) => call.method === method)
const inboxHolds = (redis: RedisClientType, id: string, count: number) => async () => (await redis.lLen(inboxKey(id))) === count

async function sessionWithEvents(simulator: Simulator) {
  const events = [{ eventId: randomUUID(), type: 'ThirdParty' }]
  return { id: simulator.createSession({ metadata: { events } }).sessionId!, events }
}

for (const moment of ['before its write', 'after its write landed'] as const) {
  test(`the holder killed ${moment}: the next holder re-runs its batch first, then the newer patch`, async (t) => {
    const redis = await connectTestRedis(t)
    if (redis === undefined) return
    const simulator = await startSimulator({ port: 0 })
    t.after(() => simulator.close())
    const { id, events } = await sessionWithEvents(simulator)
    const doomed = await startReplica(t, simulator)
    const logs = captureLogs('info')
    const survivor = await startSurvivor(t, simulator, logs.logger)
    if (moment === 'before its write') simulator.injectFault({ op: 'read', kind: 'hang', count: 1 })
    else simulator.injectFault({ op: 'write', kind: 'hang', applyFirst: true, count: 1 })

    patchOverHttp(doomed.port, id, { k: 'old', fromDoomed: true })
    await until(sent(simulator, moment === 'before its write' ? 'GET' : 'PATCH'))
    const newer = patchSession(survivor.app, id, { metadata: { k: 'new' } })
    await until(inboxHolds(redis, id, 1))
    doomed.kill('SIGKILL')

    const response = await newer
    assert.equal(response.statusCode, 200)
    const metadata = simulator.getSession(id)!.metadata as JsonObject
    assert.equal(metadata.k, 'new', 'the older patch was not applied over the newer one')
    assert.equal(metadata.fromDoomed, true, 'the taken batch was re-run, not lost')
    assert.deepEqual(metadata.events, events)
    // The re-run and the newer patch share one write (after the landed one, when it landed).
    assert.equal(upstreamCalls(simulator, 'PATCH'), moment === 'before its write' ? 1 : 2)
    assert.equal(simulator.counters().maxConcurrentPatches[id], 1)
    const [audit] = logs.entries().flatMap((entry) => (entry.audit === undefined ? [] : [entry.audit as { callers: Array<{ replica: string }> }]))
    const [rerun, newest] = audit!.callers
    assert.equal(audit!.callers.length, 2, 'the survivor’s one write carried the re-run and the newer patch')
    assert.notEqual(rerun!.replica, newest!.replica, 'the re-run patch came through the dead replica, and came first')
  })
}

for (const fate of ['applied before its deadline', 'dropped at its deadline'] as const) {
  test(`a patch whose replica was killed while it waited in the inbox is ${fate}`, async (t) => {
    const redis = await connectTestRedis(t)
    if (redis === undefined) return
    const simulator = await startSimulator({ port: 0 })
    t.after(() => simulator.close())
    const { id } = await sessionWithEvents(simulator)
    const budget: Record<string, string> = fate === 'dropped at its deadline' ? { REQUEST_DEADLINE_MS: '1000', LOCK_WAIT_MS: '900' } : {}
    const doomed = await startReplica(t, simulator, budget)
    const survivor = await startSurvivor(t, simulator)
    // Nobody can serve the session until the test lets go of its lock.
    await redis.set(lockKey(id), 'the-test', { expiration: { type: 'PX', value: 60_000 } })
    patchOverHttp(doomed.port, id, { orphan: true })
    await until(inboxHolds(redis, id, 1))
    doomed.kill('SIGKILL')
    await doomed.exited
    if (fate === 'dropped at its deadline') {
      const [entry] = await redis.lRange(inboxKey(id), 0, 0)
      const deadlineAt = Number(entry!.split(' ')[2])
      await until(async () => {
        const [seconds, micros] = (await redis.time()) as unknown as [string, string]
        return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) > deadlineAt
      })
    }
    await redis.del(lockKey(id))

    const response = await patchSession(survivor.app, id, { metadata: { after: true } })
    assert.equal(response.statusCode, 200)
    const metadata = simulator.getSession(id)!.metadata as JsonObject
    assert.equal(metadata.after, true)
    assert.equal(metadata.orphan, fate === 'applied before its deadline' ? true : undefined)
    assert.equal(upstreamCalls(simulator, 'PATCH'), 1)
  })
}
