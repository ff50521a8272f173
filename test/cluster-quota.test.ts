import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { JsonObject } from '../src/schemas.ts'
import { startSimulator } from '../src/simulator/simulator.ts'
import { patchSession, startTestApp, until, upstreamCalls } from './helper.ts'
import { connectTestRedis, createRedisCoordination } from './cluster-helper.ts'

test('three replicas sharing Redis keep AiFi under AIFI_MAX_RPS together: no 503 from AiFi, every patch lands', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  // AiFi's own limit, and the proxy's: each replica alone would stay under it, three together would not.
  const rps = 40
  const simulator = await startSimulator({ port: 0, rateLimitRps: rps })
  t.after(() => simulator.close())
  const shared = await createRedisCoordination(t, redis, { maxRps: rps })
  const env = { AIFI_MAX_RPS: String(rps) }
  const replicas = await Promise.all([1, 2, 3].map(() => startTestApp(t, { simulator, env, coordination: shared })))
  // Distinct sessions, so nothing coalesces: 45 cycles, 90 calls, about two seconds at 40 per second.
  const sessions = Array.from({ length: 45 }, (_, index) => simulator.createSession({ metadata: { events: [], n: index } }).sessionId!)

  const responses = await Promise.all(
    sessions.map((id, index) => patchSession(replicas[index % 3]!.app, id, { metadata: { written: index } })),
  )
  assert.deepEqual(
    responses.map((response) => response.statusCode),
    sessions.map(() => 200),
  )
  assert.equal(simulator.counters().rateLimited, 0, 'AiFi never had to refuse a call')
  sessions.forEach((id, index) => assert.equal((simulator.getSession(id)!.metadata as JsonObject).written, index))
  assert.equal(upstreamCalls(simulator, 'PATCH'), 45)
})

test('late binding: patches that arrive while a cycle waits for its tokens join its write', async (t) => {
  // Two calls a second: after two cycles have spent the burst, the next cycle waits about a second for tokens.
  const { app, simulator } = await startTestApp(t, { env: { AIFI_MAX_RPS: '2' } })
  const warm = simulator.createSession({ metadata: {} }).sessionId!
  for (const n of [1, 2]) assert.equal((await patchSession(app, warm, { metadata: { n } })).statusCode, 200)
  const id = simulator.createSession({ metadata: { events: [] } }).sessionId!

  simulator.resetCounters()
  // The first patch's cycle starts at once and waits for tokens; the others are queued while it waits.
  const responses = await Promise.all(['a', 'b', 'c'].map((key) => patchSession(app, id, { metadata: { [key]: true } })))
  assert.deepEqual(
    responses.map((response) => response.statusCode),
    [200, 200, 200],
  )
  assert.deepEqual(simulator.getSession(id)!.metadata, { events: [], a: true, b: true, c: true })
  assert.equal(upstreamCalls(simulator, 'PATCH'), 1, 'one write for the three')
  assert.equal(new Set(responses.map((response) => response.headers.etag)).size, 1, 'all three answered by the same write')
})

test('an AiFi 503 with Retry-After pauses every replica sharing the quota, not only the one that saw it', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  const shared = await createRedisCoordination(t, redis)
  const [first, second] = await Promise.all([1, 2].map(() => startTestApp(t, { simulator, coordination: shared })))
  const [one, two] = [simulator.createSession({ metadata: {} }).sessionId!, simulator.createSession({ metadata: {} }).sessionId!]
  simulator.injectFault({ op: 'write', kind: 'status', status: 503, count: 1, headers: { 'retry-after': '2' } })

  const firstAnswer = patchSession(first!.app, one, { metadata: { a: 1 } })
  await until(() => simulator.counters().log.some((call) => call.method === 'PATCH' && call.status === 503))
  // The other replica never saw the 503; its reservation meets the pause in Redis and waits it out.
  assert.equal((await patchSession(second!.app, two, { metadata: { b: 1 } })).statusCode, 200)
  assert.equal((await firstAnswer).statusCode, 200)
  const waitedSeconds = Number(/^aifi_proxy_quota_wait_seconds_sum (\S+)$/m.exec((await second!.app.inject('/metrics')).body)![1])
  assert.ok(waitedSeconds >= 1, `the second replica waited ${waitedSeconds} s for the pause`)
  assert.match((await first!.app.inject('/metrics')).body, /^aifi_proxy_upstream_pauses_total 1$/m)
})
