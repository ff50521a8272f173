import assert from 'node:assert/strict'
import { createHash, randomUUID } from 'node:crypto'
import { test, type TestContext } from 'node:test'
import type { RedisClientType } from 'redis'
import { systemClock } from '../src/deadline.ts'
import { createRedisFairQuota } from '../src/quota/redis-quota.ts'
import { startSimulator, type Simulator } from '../src/simulator/simulator.ts'
import { assertFloodRefusedAtOnce, assertRefusesBeforeQueueing, assertWaiterGivesPlaceBack, flowMetric } from './quota-checks.ts'
import { patchSession, SESSIONS, startTestApp, until, upstreamCalls } from './helper.ts'
import { connectSecondClient, connectTestRedis, createRedisCoordination, redisAndSimulator, startReplicaProcess, type ServerProcess } from './cluster-helper.ts'

// One schedule of AiFi's quota for the whole cluster, in Redis (docs/consistency.md#sharing-the-quota).

const KEYS = 'checkout:checkout-key,backfill:backfill-key'

/** The production schedule's key for an AiFi origin (src/quota/redis-quota.ts). */
const scheduleKey = (origin: string, suffix: string) => `aifi-merge-proxy:quota:{${createHash('sha256').update(origin).digest('base64url')}}${suffix}`

/** PATCHes a session over HTTP as `caller` until `going()` turns false; resolves with how many were answered 200. */
async function patchWhile(port: number, caller: string, sessionId: string, going: () => boolean): Promise<number> {
  let ok = 0
  for (let n = 0; going(); n++) {
    const response = await fetch(`http://127.0.0.1:${port}${SESSIONS}/${sessionId}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${caller}-key`, 'content-type': 'application/json' },
      body: JSON.stringify({ metadata: { n } }),
    }).catch(() => undefined)
    if (response?.status === 200) ok++
    await response?.body?.cancel()
  }
  return ok
}

/** Patches withdrawn unapplied from the shared inbox under `prefix`: their state key says `w` (inbox-protocol.ts). */
async function countWithdrawnEntries(redis: RedisClientType, prefix: string): Promise<number> {
  let withdrawn = 0
  for await (const keys of redis.scanIterator({ MATCH: `${prefix}inbox:*:entry:*`, COUNT: 1000 })) {
    const states = keys.length === 0 ? [] : await redis.mGet(keys)
    withdrawn += states.filter((state) => state === 'w').length
  }
  return withdrawn
}

/** Redis, the simulator and the cluster's quota at four calls a second, for patches with a 200 ms turn and 5 s to live. */
async function fourCallsASecond(t: TestContext) {
  const setup = await redisAndSimulator(t)
  if (setup === undefined) return undefined
  const coordination = await createRedisCoordination(t, setup.redis, { maxRps: 4 })
  return { ...setup, coordination, env: { AIFI_MAX_RPS: '4', LOCK_WAIT_MS: '200', REQUEST_DEADLINE_MS: '5000' } }
}

async function startReplicas(t: TestContext, simulator: Simulator, count: number, env: Record<string, string>): Promise<ServerProcess[]> {
  return Promise.all(Array.from({ length: count }, () => startReplicaProcess(t, simulator, { PROXY_API_KEYS: KEYS, ...env })))
}

/** The cluster's schedule on the test's Redis under a prefix of its own, 20 calls a second, closed with the test. */
async function scheduleOnTestRedis(t: TestContext, redis: RedisClientType, options: { burst?: number } = {}) {
  const subscriber = await connectSecondClient(t, redis)
  const quota = createRedisFairQuota(
    {
      client: redis,
      subscribe: (channel, onMessage) => subscriber.subscribe(channel, onMessage),
      unsubscribe: (channel, onMessage) => subscriber.unsubscribe(channel, onMessage),
      ratePerSecond: 20,
      aifiOrigin: 'http://aifi.test',
      replicaId: 'replica-1',
      keyPrefix: `test:${randomUUID()}:quota:`,
      ...options,
    },
    { clock: systemClock, shareOf: () => 1, intervalMs: 50 },
  )
  t.after(() => quota.close())
  await quota.listen()
  return quota
}

test('a waiter that gives up gives its place back in the cluster’s schedule too', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  // As in one process (test/quota-sharing.test.ts).
  await assertWaiterGivesPlaceBack(await scheduleOnTestRedis(t, redis, { burst: 1 }))
})

test('a request whose turn in the cluster’s schedule cannot come in time is refused before it queues, unless something else would carry it', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  await assertRefusesBeforeQueueing(await scheduleOnTestRedis(t, redis))
})

test('two callers flooding three replica processes at shares 3 and 1 get AiFi’s writes in that ratio', { timeout: 60_000 }, async (t) => {
  const setup = await redisAndSimulator(t)
  if (setup === undefined) return
  const { simulator } = setup
  const replicas = await startReplicas(t, simulator, 3, { CALLER_SHARES: 'checkout:3,backfill:1', AIFI_MAX_RPS: '100', REQUEST_DEADLINE_MS: '20000' })
  const owner = new Map<string, string>()
  let flooding = true
  // Each caller's 15 workers patch sessions of their own: checkout's through the first replica, backfill's through
  // the other two. A flow's share must not depend on how many replicas its requests reach.
  const placement = { checkout: [replicas[0]!], backfill: [replicas[1]!, replicas[2]!] }
  const workers = (['checkout', 'backfill'] as const).flatMap((caller) =>
    Array.from({ length: 15 }, (_, i) => {
      const id = simulator.createSession({}).sessionId!
      owner.set(id, caller)
      return patchWhile(placement[caller][i % placement[caller].length]!.port, caller, id, () => flooding)
    }),
  )
  const writes = () => simulator.counters().patchBodies
  // Counted once both flows have had time to build a backlog, so neither gets an idle flow's share.
  const skipped = 60
  const counted = 200
  await until(() => writes().length >= skipped + counted)
  flooding = false
  const window = writes().slice(skipped, skipped + counted)
  await Promise.all(workers)
  const checkout = window.filter(({ sessionId }) => owner.get(sessionId) === 'checkout').length
  const backfill = window.filter(({ sessionId }) => owner.get(sessionId) === 'backfill').length
  const ratio = checkout / backfill
  assert.ok(ratio >= 3 * 0.85 && ratio <= 3 * 1.15, `checkout got ${checkout} writes to backfill's ${backfill}`)
})

test('a replica killed while its requests wait holds no grant beyond its lease: they leave the schedule refused', { timeout: 60_000 }, async (t) => {
  const setup = await redisAndSimulator(t)
  if (setup === undefined) return
  const { redis, simulator } = setup
  // Five cycles a second; the doomed replica's 30 cycles, with 30 s to run, would take six seconds alone.
  const env = { AIFI_MAX_RPS: '10', REQUEST_DEADLINE_MS: '30000' }
  const [doomed, survivor] = await startReplicas(t, simulator, 2, env)
  const listener = await connectSecondClient(t, redis)
  const doomedAnswers: string[] = []
  const isDoomed = (id: string) => id.includes(`:${doomed!.serverPid}:`)
  await listener.pSubscribe(scheduleKey(simulator.url, ':to:*'), (message) => {
    const [kind, id] = message.split(' ')
    if (isDoomed(id!)) doomedAnswers.push(kind!)
  })
  const waitingOfDoomed = async () => (await redis.zRange(scheduleKey(simulator.url, ':waiting'), 0, -1)).filter(isDoomed).length

  for (let i = 0; i < 30; i++) {
    const id = simulator.createSession({}).sessionId!
    void fetch(`http://127.0.0.1:${doomed!.port}${SESSIONS}/${id}`, {
      method: 'PATCH',
      headers: { authorization: 'Bearer backfill-key', 'content-type': 'application/json' },
      body: JSON.stringify({ metadata: { i } }),
    }).catch(() => {})
  }
  await until(async () => (await waitingOfDoomed()) >= 20)
  doomed!.kill('SIGKILL')
  await doomed!.exited
  const grantsBeforeKill = doomedAnswers.filter((kind) => kind === 'g').length

  // The survivor's caller keeps the schedule busy until the dead replica's requests have left it.
  let going = true
  const sessions = Array.from({ length: 3 }, () => simulator.createSession({}).sessionId!)
  const workers = sessions.map((id) => patchWhile(survivor!.port, 'checkout', id, () => going))
  await until(async () => (await waitingOfDoomed()) === 0)
  going = false
  const served = (await Promise.all(workers)).reduce((sum, n) => sum + n, 0)

  const grantsAfterKill = doomedAnswers.filter((kind) => kind === 'g').length - grantsBeforeKill
  const refused = doomedAnswers.filter((kind) => kind === 'r').length
  // Over a 2 s lease at five cycles a second, shared with the survivor: a few grants at most, then refusals.
  assert.ok(grantsAfterKill <= 8, `${grantsAfterKill} grants went to the dead replica after it died`)
  assert.ok(refused >= 10, `only ${refused} of the dead replica's requests left refused`)
  assert.ok(served >= 1)
})

test('a flood over three replicas is refused at once with E_QUOTA_EXHAUSTED, and the rest is what the cluster’s quota serves in time', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const deadlineMs = 1_000
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  const coordination = await createRedisCoordination(t, redis, { maxRps: 20 })
  const env = { AIFI_MAX_RPS: '20', REQUEST_DEADLINE_MS: String(deadlineMs) }
  const replicas = await Promise.all([1, 2, 3].map(() => startTestApp(t, { simulator, coordination, env })))
  await coordination.listening?.()
  // One quota for the three: what one process serves in time, the three serve together.
  const refused = await assertFloodRefusedAtOnce(replicas.map(({ app }) => app), simulator, deadlineMs)
  assert.equal(simulator.counters().rateLimited, 0)
  // Most were refused before they queued: a patch pushed and then withdrawn leaves its state `w` in the inbox;
  // one refused before it queued leaves nothing (without the check, every refusal left one).
  const withdrawn = await countWithdrawnEntries(redis, coordination.prefix)
  assert.ok(withdrawn < refused.length / 4, `${withdrawn} of ${refused.length} refused patches were queued first`)
})

test('a patch whose own turn would come too late still rides in the batch another replica has queued for its session', async (t) => {
  const setup = await redisAndSimulator(t)
  if (setup === undefined) return
  const { redis, simulator } = setup
  // Five calls a second: the burst serves two cycles at once, then a cycle comes every 400 ms.
  const coordination = await createRedisCoordination(t, redis, { maxRps: 5 })
  const a = await startTestApp(t, { simulator, coordination, env: { AIFI_MAX_RPS: '5', REQUEST_DEADLINE_MS: '6000' } })
  const b = await startTestApp(t, { simulator, coordination, env: { AIFI_MAX_RPS: '5', REQUEST_DEADLINE_MS: '2000' } })
  await coordination.listening?.()
  const fresh = (count: number) => Array.from({ length: count }, () => simulator.createSession({}).sessionId!)
  const shared = simulator.createSession({}).sessionId!
  // B's own four cycles: two served at once, two waiting in the schedule (to about 0.8 s), so B asks the schedule.
  const others = fresh(4).map((id) => patchSession(b.app, id, { metadata: { b: true } }))
  await until(async () => (await flowMetric(b.app, 'flow_waiting', 'tester')) >= 1)
  // A's patch of the shared session queues next (its cycle at about 1.2 s), then six more cycles (to about 3.6 s).
  const held = patchSession(a.app, shared, { metadata: { a: true } })
  await until(async () => (await redis.exists(coordination.queueKey(shared))) === 1)
  others.push(...fresh(6).map((id) => patchSession(a.app, id, { metadata: { a: true } })))
  await until(async () => (await flowMetric(a.app, 'flow_waiting', 'tester')) >= 6)

  // B's patch may wait 2 s: a cycle of its own would come after all of these, too late. A's queued batch comes in time.
  const rider = await patchSession(b.app, shared, { metadata: { rider: true } })
  assert.equal(rider.statusCode, 200, rider.body)
  assert.equal((await held).statusCode, 200)
  const metadata = simulator.getSession(shared)!.metadata as { a?: boolean; rider?: boolean }
  assert.deepEqual([metadata.a, metadata.rider], [true, true])
  const writes = simulator.counters().log.filter((entry) => entry.method === 'PATCH' && entry.url.includes(shared))
  assert.equal(writes.length, 1, 'one write carried both')
  await Promise.all(others)
})

test('a patch whose wait for the quota outlasts LOCK_WAIT_MS is still taken and written once its grant comes', async (t) => {
  const setup = await fourCallsASecond(t)
  if (setup === undefined) return
  const { simulator, coordination, env } = setup
  // The burst serves the first two cycles at once, the last two wait 0.5 s and 1 s for theirs, well past their
  // turn's 200 ms, though the session's turn was theirs all along.
  const { app } = await startTestApp(t, { simulator, coordination, env })
  await coordination.listening?.()
  const sessions = Array.from({ length: 4 }, () => simulator.createSession({}).sessionId!)

  const answers = await Promise.all(sessions.map((id, i) => patchSession(app, id, { metadata: { i } })))
  assert.deepEqual(
    answers.map((answer) => answer.statusCode),
    [200, 200, 200, 200],
  )
  sessions.forEach((id, i) => assert.equal((simulator.getSession(id)!.metadata as { i?: number }).i, i))
  // Each cycle was granted once and ran: no slot went to a batch that found its patch gone.
  assert.equal(simulator.counters().log.length, 8)
})

test('a patch queued behind another replica’s wait for the quota waits with it past LOCK_WAIT_MS, and its replica then asks the quota for nothing', async (t) => {
  const setup = await fourCallsASecond(t)
  if (setup === undefined) return
  const { redis, simulator, coordination, env } = setup
  // The holder's cycle waits about 0.5 s for its slot, well past the other replica's patch's 200 ms turn.
  const id = simulator.createSession({}).sessionId!
  // The other replica's lock tells the test when it hands the session's turn back.
  const { lock } = coordination
  let otherDone!: () => void
  const otherReleased = new Promise<void>((resolve) => (otherDone = resolve))
  const otherLock = {
    ...lock,
    acquire: async (sessionId: string, maxWaitMs: number) => {
      const lease = await lock.acquire(sessionId, maxWaitMs)
      return lease === undefined || sessionId !== id ? lease : { ...lease, release: () => lease.release().finally(otherDone) }
    },
  }
  const holder = await startTestApp(t, { simulator, coordination, env })
  const other = await startTestApp(t, { simulator, coordination, env, lock: otherLock })
  await coordination.listening?.()
  const bothReplicas = async (metric: string) =>
    (await Promise.all([holder, other].map(({ app }) => flowMetric(app, metric, 'tester')))).reduce((sum, value) => sum + value, 0)
  // Two cycles spend the burst, so the holder's next cycle waits for its slot with the session's lock held.
  const warm = simulator.createSession({}).sessionId!
  for (const n of [1, 2]) assert.equal((await patchSession(holder.app, warm, { metadata: { n } })).statusCode, 200)

  const first = patchSession(holder.app, id, { metadata: { first: true } })
  await until(async () => (await redis.exists(coordination.lockKey(id))) === 1)
  const second = patchSession(other.app, id, { metadata: { second: true } })
  await until(async () => (await redis.lLen(coordination.queueKey(id))) === 2)
  // The second patch waited for the holder's slot, not for a turn: a wait for the quota is never E_LOCK_TIMEOUT.
  assert.deepEqual([(await first).statusCode, (await second).statusCode], [200, 200])
  assert.equal(upstreamCalls(simulator, 'PATCH'), 3, 'one write carried both patches')

  // The other replica's turn came after the write that answered it: it hands the turn back without a slot.
  await otherReleased
  assert.equal(await bothReplicas('flow_grants_total'), 3)
  assert.equal(await bothReplicas('flow_waiting'), 0)
})

test('a wait that runs out while Redis stalls its enqueue is refused, not left to crash the process', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const quota = await scheduleOnTestRedis(t, redis)
  const pauser = await connectSecondClient(t, redis)
  // Redis holds the enqueue for 300 ms; the request may wait 50 ms, so its own timer refuses it first.
  await pauser.sendCommand(['CLIENT', 'PAUSE', '300', 'ALL'])
  await assert.rejects(quota.reserve({ flow: 'a', tokens: 1, deadlineAt: Date.now() + 100 }), { type: 'E_QUOTA_EXHAUSTED' })
})
