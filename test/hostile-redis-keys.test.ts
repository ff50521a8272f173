import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createMetrics } from '../src/metrics.ts'
import type { JsonObject } from '../src/schemas.ts'
import { startSimulator } from '../src/simulator/simulator.ts'
import { connectTestRedis, createRedisCoordination } from './cluster-helper.ts'
import { patchSession, startTestApp, until, upstreamCalls } from './helper.ts'

// Session ids are the caller's choice. Spliced into Redis keys raw, `X:taken` named the batch X's holder had taken,
// `X:written` its set of written ids, `X:holder` its lock's holder record (docs/operations.md#redis).

const HOSTILE_SUFFIXES = [':taken', ':written', ':holder', ':queue', '\n', ':settled:x']

test('ids chosen to spell another session’s keys, racing a write to that session, touch none of them', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  const coordination = await createRedisCoordination(t, redis)
  const metrics = createMetrics()
  t.after(() => metrics.close())
  const [writer, attacker] = await Promise.all(
    [0, 1].map(() => startTestApp(t, { simulator, coordination, metrics })),
  )
  await coordination.listening?.()
  const id = simulator.seededSessionIds[0]!
  const before = simulator.getSession(id)!.metadata as JsonObject
  simulator.setLatency({ op: 'write', ms: 400 })

  const written = patchSession(writer!.app, id, { metadata: { mine: 1 } })
  await until(() => upstreamCalls(simulator, 'PATCH') === 0 && upstreamCalls(simulator, 'GET') === 1)
  const hostileIds = [...HOSTILE_SUFFIXES.map((suffix) => id + suffix), `{${id}}`]
  const hostile = await Promise.all(hostileIds.map((hostileId) => patchSession(attacker!.app, hostileId, { metadata: { theirs: 1 } })))

  const answer = await written
  assert.equal(answer.statusCode, 200)
  assert.equal((answer.json() as { sessionId: string }).sessionId, id)
  for (const [index, response] of hostile.entries()) {
    assert.equal(response.statusCode, 404, `${JSON.stringify(hostileIds[index])} is a session of its own, unknown upstream`)
    assert.equal(response.json().type, 'E_SESSION_NOT_FOUND')
  }
  const after = simulator.getSession(id)!.metadata as JsonObject
  assert.deepEqual(after, { ...before, mine: 1 }, 'only its own patch reached the session')
  assert.equal(upstreamCalls(simulator, 'PATCH'), 1)
  const takeovers = (await metrics.registry.getSingleMetric('aifi_proxy_lock_takeovers_total')!.get()).values[0]?.value ?? 0
  assert.equal(takeovers, 0, 'no lock was taken over')
})

test('in forward mode, made-up tokens share the one quota of the AiFi origin in Redis', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const coordination = await createRedisCoordination(t, redis)
  const { app } = await startTestApp(t, { auth: 'forward', coordination })
  const id = 'any-session'
  const answers = await Promise.all(
    Array.from({ length: 8 }, (_, i) => patchSession(app, id, { metadata: { n: i } }, { headers: { authorization: `Bearer invented-${i}` } })),
  )
  assert.ok(answers.every((answer) => answer.statusCode === 401), 'AiFi refused every invented token')
  // Every key of a schedule carries its origin's hash tag: one tag, one schedule.
  const schedules = new Set((await redis.keys(`${coordination.prefix}quota:*`)).map((key) => /\{[^}]*\}/.exec(key)![0]))
  assert.equal(schedules.size, 1, 'one schedule for the origin, not one per token')
})
