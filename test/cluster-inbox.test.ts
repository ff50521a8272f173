import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { FastifyBaseLogger } from 'fastify'
import type { RedisClientType } from 'redis'
import { createLocalCoordination } from '../src/composition.ts'
import { loadConfig } from '../src/config.ts'
import type { JsonObject } from '../src/schemas.ts'
import type { Simulator } from '../src/simulator/simulator.ts'
import { captureLogs, patchSession, startTestApp, until, upstreamCalls, type TestApp } from './helper.ts'
import { createRedisCoordination, redisAndSimulator } from './cluster-helper.ts'

// One queue per session across replicas: apps in this process sharing one Redis and one simulator, each with an
// inbox of its own, as replicas behind a round-robin balancer would be.

async function startReplicas(
  t: TestContext,
  redis: RedisClientType,
  simulator: Simulator,
  count: number,
  env: Record<string, string> = {},
  loggerInstance?: FastifyBaseLogger,
) {
  const coordination = await createRedisCoordination(t, redis, { maxRps: 1000 })
  const replicas: TestApp[] = []
  for (let i = 0; i < count; i++) {
    replicas.push(await startTestApp(t, { simulator, coordination, loggerInstance, env: { AIFI_MAX_RPS: '1000', ...env } }))
  }
  await coordination.listening?.()
  // The inbox's keys live under this test's own prefix.
  return Object.assign(replicas, { inboxPrefix: `${coordination.prefix}inbox:` })
}

async function hotSession(replicas: TestApp[], simulator: Simulator, id: string, patches: number) {
  const responses = await Promise.all(
    Array.from({ length: patches }, (_, i) => patchSession(replicas[i % replicas.length]!.app, id, { metadata: { [`k${i}`]: i } })),
  )
  return { statuses: new Set(responses.map((response) => response.statusCode)), upstream: upstreamCalls(simulator, 'GET') + upstreamCalls(simulator, 'PATCH') }
}

test('200 patches to one session over three replicas share reads and writes as one replica’s would', async (t) => {
  const setup = await redisAndSimulator(t)
  if (setup === undefined) return
  const { redis, simulator } = setup
  simulator.setLatency({ op: 'all', ms: 20 })
  const [first, second] = simulator.seededSessionIds as [string, string]

  const [alone] = await startReplicas(t, redis, simulator, 1)
  const baseline = await hotSession([alone!], simulator, first, 200)
  simulator.resetCounters()
  const three = await startReplicas(t, redis, simulator, 3)
  const shared = await hotSession(three, simulator, second, 200)

  assert.deepEqual(shared.statuses, new Set([200]))
  const metadata = simulator.getSession(second)!.metadata as JsonObject
  for (let i = 0; i < 200; i++) assert.equal(metadata[`k${i}`], i, `k${i} was lost`)
  assert.equal(simulator.counters().maxConcurrentPatches[second], 1)
  assert.ok(shared.upstream <= Math.ceil(1.2 * baseline.upstream), `${shared.upstream} upstream requests across three replicas, ${baseline.upstream} through one`)
})

test('across replicas each patch’s If-Match is judged against the state it is applied to', async (t) => {
  const setup = await redisAndSimulator(t)
  if (setup === undefined) return
  const { redis, simulator } = setup
  const [a, b, c] = await startReplicas(t, redis, simulator, 3)
  const id = simulator.seededSessionIds[0]!
  const before = await patchSession(a!.app, id, { metadata: { n: 0 } })
  const etag = String(before.headers.etag)
  simulator.setLatency({ op: 'read', ms: 50 })

  // The first holds the session while the others queue up in its inbox, one batch behind it.
  const first = patchSession(a!.app, id, { metadata: { n: 1 } })
  await until(() => upstreamCalls(simulator, 'GET') === 2)
  const [stale, plain] = await Promise.all([
    patchSession(b!.app, id, { metadata: { stale: true } }, { headers: { 'if-match': etag } }),
    patchSession(c!.app, id, { metadata: { plain: true } }),
  ])
  const afterFirst = await first
  assert.equal(afterFirst.statusCode, 200)
  assert.equal(stale.statusCode, 412, 'judged after the first patch, which changed the ETag')
  assert.equal(stale.json().type, 'E_PRECONDITION_FAILED')
  assert.equal(plain.statusCode, 200)
  const current = await patchSession(b!.app, id, { metadata: { current: true } }, { headers: { 'if-match': String(plain.headers.etag) } })
  assert.equal(current.statusCode, 200)
  const metadata = simulator.getSession(id)!.metadata as JsonObject
  assert.deepEqual([metadata.n, metadata.stale, metadata.plain, metadata.current], [1, undefined, true, true])
})

test('a batch from several replicas that AiFi rejects is split, so only the offending caller fails', async (t) => {
  const setup = await redisAndSimulator(t)
  if (setup === undefined) return
  const { redis, simulator } = setup
  const [a, b, c] = await startReplicas(t, redis, simulator, 3)
  simulator.setLatency({ op: 'read', ms: 50 })
  const id = simulator.seededSessionIds[0]!
  const errors = [{ error: '"metadata" is too large', rule: 'object.max', field: '"metadata"' }]
  simulator.injectFault({ op: 'write', kind: 'status', status: 400, body: { message: 'Invalid request body', type: 'E_INVALID_BODY', errors }, count: 2 })

  const alone = patchSession(a!.app, id, { metadata: { a: 1 } })
  await until(() => upstreamCalls(simulator, 'GET') === 1)
  const [batchedB, batchedC] = await Promise.all([patchSession(b!.app, id, { metadata: { b: 2 } }), patchSession(c!.app, id, { metadata: { c: 3 } })])
  assert.equal((await alone).statusCode, 422)
  assert.deepEqual((await alone).json().errors, errors, 'the caller’s own error, carried across replicas')
  assert.equal(batchedB.statusCode, 200)
  assert.equal(batchedC.statusCode, 200)
  const metadata = simulator.getSession(id)!.metadata as JsonObject
  assert.deepEqual([metadata.a, metadata.b, metadata.c], [undefined, 2, 3])
  // The lone write, the rejected batch of two, then each of them on its own.
  assert.equal(upstreamCalls(simulator, 'PATCH'), 4)
})

test('a patch waiting in another replica’s inbox past LOCK_WAIT_MS is refused and never applied later', async (t) => {
  const setup = await redisAndSimulator(t)
  if (setup === undefined) return
  const { redis, simulator } = setup
  const [a, b] = await startReplicas(t, redis, simulator, 2, { LOCK_WAIT_MS: '300', UPSTREAM_TIMEOUT_MS: '5000' })
  const id = simulator.seededSessionIds[0]!
  simulator.setLatency({ op: 'read', ms: 600 })

  const holder = patchSession(a!.app, id, { metadata: { first: true } })
  await until(() => upstreamCalls(simulator, 'GET') === 1)
  const refused = await patchSession(b!.app, id, { metadata: { late: true } })
  assert.equal(refused.statusCode, 503)
  assert.equal(refused.json().type, 'E_LOCK_TIMEOUT')
  assert.equal((await holder).statusCode, 200)
  simulator.setLatency({ op: 'read', ms: 0 })
  assert.equal((await patchSession(a!.app, id, { metadata: { after: true } })).statusCode, 200)
  const metadata = simulator.getSession(id)!.metadata as JsonObject
  assert.deepEqual([metadata.first, metadata.late, metadata.after], [true, undefined, true])
})

test('the audit line of a write names every coalesced caller with the replica it came through', async (t) => {
  const setup = await redisAndSimulator(t)
  if (setup === undefined) return
  const { redis, simulator } = setup
  const logs = captureLogs('info')
  const replicas = await startReplicas(t, redis, simulator, 3, {}, logs.logger)
  simulator.setLatency({ op: 'read', ms: 30 })
  const id = simulator.seededSessionIds[0]!

  const first = patchSession(replicas[0]!.app, id, { metadata: { first: 1 } })
  await until(() => upstreamCalls(simulator, 'GET') === 1)
  await Promise.all([first, ...replicas.map((replica, i) => patchSession(replica.app, id, { metadata: { [`r${i}`]: i } }))])

  const audits = logs.entries().flatMap((entry) => (entry.audit === undefined ? [] : [entry.audit as { callers: Array<{ caller: string; replica: string; requestId: string }> }]))
  assert.equal(audits.length, 2, 'the first patch alone, then one write for the three that queued behind it')
  const shared = audits[1]!.callers
  assert.equal(shared.length, 3)
  assert.deepEqual(new Set(shared.map((caller) => caller.replica)), new Set(['replica-1', 'replica-2', 'replica-3']))
  for (const caller of shared) assert.equal(caller.caller, 'tester')
})

test('an Idempotency-Key retried on another replica is answered from the first, not applied again', async (t) => {
  const setup = await redisAndSimulator(t)
  if (setup === undefined) return
  const { redis, simulator } = setup
  const coordination = await createRedisCoordination(t, redis)
  const [a, b] = await Promise.all([0, 1].map(() => startTestApp(t, { simulator, coordination })))
  await coordination.listening?.()
  const id = simulator.seededSessionIds[0]!
  const headers = { 'idempotency-key': 'order-7-promo' }

  const first = await patchSession(a!.app, id, { metadata: { counter: 1 } }, { headers })
  const retried = await patchSession(b!.app, id, { metadata: { counter: 1 } }, { headers })
  assert.equal(first.statusCode, 200)
  assert.equal(retried.statusCode, 200)
  assert.equal(retried.headers['idempotency-replayed'], 'true')
  assert.equal(retried.headers.etag, first.headers.etag)
  assert.equal(upstreamCalls(simulator, 'PATCH'), 1)
})

test('the inbox leaves nothing in Redis that does not expire', async (t) => {
  const setup = await redisAndSimulator(t)
  if (setup === undefined) return
  const { redis, simulator } = setup
  const replicas = await startReplicas(t, redis, simulator, 3)
  simulator.setLatency({ op: 'read', ms: 20 })
  const id = simulator.seededSessionIds[0]!
  await hotSession(replicas, simulator, id, 30)

  const keys = await redis.keys(`${replicas.inboxPrefix}*`)
  assert.ok(keys.some((key) => key.includes(':entry:')), 'settlements are kept for callers that look them up')
  for (const key of keys) {
    const ttl = await redis.pTTL(key)
    assert.ok(ttl > 0 && ttl <= 60_000, `${key} expires (PTTL ${ttl})`)
  }
})

test('in forward mode patches coalesce within their replica only: no caller token goes to the inbox', async (t) => {
  let inboxes = 0
  const { app, simulator } = await startTestApp(t, {
    auth: 'forward',
    coordination: {
      ...createLocalCoordination(loadConfig({ LOG_LEVEL: 'silent' })),
      sharedInbox: () => {
        inboxes++
        throw new Error('forward mode must not use the shared inbox')
      },
    },
  })
  const id = simulator.seededSessionIds[0]!
  const response = await patchSession(app, id, { metadata: { promo: 'X' } }, { headers: { authorization: `Bearer ${simulator.token}` } })
  assert.equal(response.statusCode, 200)
  assert.equal(inboxes, 0)
})

test('a replica that missed its settlements’ message reads them back once the lock is free, not at the deadline', { timeout: 10_000 }, async (t) => {
  const setup = await redisAndSimulator(t)
  if (setup === undefined) return
  const { redis, simulator } = setup
  const coordination = await createRedisCoordination(t, redis, { maxRps: 1000 })
  const logs = captureLogs('info')
  const env = { AIFI_MAX_RPS: '1000', REQUEST_DEADLINE_MS: '30000' }
  const holder = await startTestApp(t, { simulator, coordination, loggerInstance: logs.logger, env })
  await coordination.listening?.()
  // The deaf replica hears no settlement, and waits for the lock only once the holder has written its patch.
  let holderWrote!: () => void
  const written = new Promise<void>((resolve) => (holderWrote = resolve))
  const deafSubscriber = { isReady: true, subscribe: async () => {}, on: () => {}, once: () => {} } as unknown as RedisClientType
  const deafShared = await createRedisCoordination(t, redis, { maxRps: 1000, prefix: coordination.prefix, subscriber: deafSubscriber, ttlMs: 1_500, replicaName: 'deaf' })
  const deafLock = deafShared.lock
  const deaf = await startTestApp(t, {
    simulator,
    coordination: deafShared,
    lock: { ...deafLock, acquire: async (sessionId: string, maxWaitMs: number) => (await written, deafLock.acquire(sessionId, maxWaitMs)) },
    env,
  })
  simulator.setLatency({ op: 'read', ms: 200 })
  const id = simulator.seededSessionIds[0]!

  const first = patchSession(holder.app, id, { metadata: { first: true } })
  await until(() => upstreamCalls(simulator, 'GET') === 1)
  const fromDeaf = patchSession(deaf.app, id, { metadata: { deaf: true } })
  await until(async () => (await redis.lLen(coordination.queueKey(id))) === 1)
  const second = patchSession(holder.app, id, { metadata: { second: true } })
  await until(() => upstreamCalls(simulator, 'PATCH') === 2)
  holderWrote()

  const answers = await Promise.all([first, fromDeaf, second])
  assert.deepEqual(answers.map((answer) => answer.statusCode), [200, 200, 200])
  const audits = logs.entries().flatMap((entry) => (entry.audit === undefined ? [] : [entry.audit as { callers: Array<{ replica: string }> }]))
  assert.ok(audits[1]!.callers.some((caller) => caller.replica === 'deaf'), 'the holder wrote the deaf replica’s patch')
})

test('a dry run needs no inbox: nothing is queued in Redis and nothing is written', async (t) => {
  const setup = await redisAndSimulator(t)
  if (setup === undefined) return
  const { redis, simulator } = setup
  const replicas = await startReplicas(t, redis, simulator, 2)
  const id = simulator.seededSessionIds[0]!

  const response = await patchSession(replicas[1]!.app, id, { metadata: { promo: 'X' } }, { query: '?dryRun=true' })
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['x-merge-result'], 'dry-run')
  assert.deepEqual(await redis.keys(`${replicas.inboxPrefix}*`), [])
  assert.equal(upstreamCalls(simulator, 'PATCH'), 0)
})
