import assert from 'node:assert/strict'
import { test } from 'node:test'
import { startSimulator } from '../src/simulator/simulator.ts'
import { patchSession, startTestApp, type TestApp } from './helper.ts'
import { connectTestRedis, createRedisCoordination } from './cluster-helper.ts'

// docs/http-api.md#numbers across replicas: a patch another replica's cycle writes travels through the shared inbox
// in Redis, and keeps the caller's digits on the way, and so does the answer settled back to its replica.

test("a patch written by another replica's cycle keeps the caller's digits, in the write and in the answer", async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  // A slow AiFi keeps one replica's cycle running while the other's patches queue up behind it.
  simulator.setLatency({ op: 'all', ms: 30 })
  const coordination = await createRedisCoordination(t, redis, { maxRps: 1000 })
  const replicas: TestApp[] = []
  for (let i = 0; i < 2; i++) {
    replicas.push(await startTestApp(t, { simulator, coordination, env: { AIFI_MAX_RPS: '1000' } }))
  }
  await coordination.listening?.()
  const id = simulator.seededSessionIds[0]!

  const members = Array.from({ length: 12 }, (_, i) => `"k${i}":900719925474099${i % 10}${i}`)
  const responses = await Promise.all(members.map((member, i) => patchSession(replicas[i % 2]!.app, id, `{"metadata":{${member}}}`)))
  assert.deepEqual(new Set(responses.map((response) => response.statusCode)), new Set([200]))
  const stored = await (await fetch(`${simulator.url}/__sim/sessions/${encodeURIComponent(id)}`)).text()
  for (const member of members) assert.ok(stored.includes(member), `${member} in ${stored}`)
  responses.forEach((response, i) => assert.ok(response.body.includes(members[i]!), `answer ${i} holds ${members[i]}`))
})
