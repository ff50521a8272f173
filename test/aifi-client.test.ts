import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createAifiClient } from '../src/aifi/aifi-client.ts'
import { UpstreamBadResponseError, UpstreamTimeoutError } from '../src/aifi/upstream-errors.ts'
import { createDeadline } from '../src/deadline.ts'
import { startSimulator } from '../src/simulator/simulator.ts'

async function setUp(t: import('node:test').TestContext, timeoutMs = 2_000) {
  const simulator = await startSimulator({ port: 0 })
  const client = createAifiClient({ baseUrl: simulator.url, timeoutMs })
  t.after(async () => {
    await client.close()
    await simulator.close()
  })
  const caller = { name: 'tester', authorization: `Bearer ${simulator.token}`, scope: 'key:tester' }
  const context = { requestId: 'req-1', authorization: caller.authorization, deadline: createDeadline(timeoutMs), trace: undefined, flow: 'tester' }
  return { simulator, client, context }
}

test('readSession reads through the list endpoint and keeps unknown fields', async (t) => {
  const { simulator, client, context } = await setUp(t)
  const id = simulator.seededSessionIds[0]!
  const session = await client.readSession(id, context)
  assert.equal(session?.sessionId, id)
  assert.deepEqual(session?.shoppingSessionFlags, simulator.getSession(id)!.shoppingSessionFlags)
  assert.equal(await client.readSession('unknown', context), undefined)
  const [entry] = simulator.counters().log
  assert.equal(entry!.url, `/api/admin/v2/sessions?sessionToken=${id}&count=2`)
  assert.equal(entry!.requestId, 'req-1')
})

test('readSession selects the exact match only', async (t) => {
  const { simulator, client, context } = await setUp(t)
  const near = { sessionId: 'abc-1', sessionToken: 'abc-1', metadata: {} }
  simulator.injectFault({ op: 'read', kind: 'status', status: 200, count: 1, body: { data: [near], pagination: {} } })
  assert.equal(await client.readSession('abc', context), undefined)
  const exact = { sessionId: 'abc', sessionToken: 'abc-token', metadata: {} }
  simulator.injectFault({ op: 'read', kind: 'status', status: 200, count: 1, body: { data: [near, exact] } })
  assert.equal((await client.readSession('abc', context))?.sessionToken, 'abc-token')
})

test("readSession never takes another session whose sessionToken is the id; a token names an item only without a sessionId", async (t) => {
  const { simulator, client, context } = await setUp(t)
  const other = { sessionId: 'other', sessionToken: 'abc', metadata: { x: 1 } }
  simulator.injectFault({ op: 'read', kind: 'status', status: 200, count: 1, body: { data: [other] } })
  assert.equal(await client.readSession('abc', context), undefined)
  const tokenOnly = { sessionToken: 'abc', metadata: {} }
  simulator.injectFault({ op: 'read', kind: 'status', status: 200, count: 1, body: { data: [other, tokenOnly] } })
  assert.deepEqual(await client.readSession('abc', context), tokenOnly)
  const own = { sessionId: 'abc', sessionToken: 'abc', metadata: {} }
  simulator.injectFault({ op: 'read', kind: 'status', status: 200, count: 1, body: { data: [own, other] } })
  assert.equal((await client.readSession('abc', context))?.sessionId, 'abc')
  simulator.injectFault({ op: 'read', kind: 'status', status: 200, count: 1, body: { data: [own, tokenOnly] } })
  await assert.rejects(client.readSession('abc', context), UpstreamBadResponseError)
})

test('answers of the wrong shape, or not JSON at all, are bad responses', async (t) => {
  const { simulator, client, context } = await setUp(t)
  const id = simulator.seededSessionIds[0]!
  for (const body of [{ items: [] }, { data: 'x' }, { data: [1] }, 'not json']) {
    simulator.injectFault({ op: 'read', kind: 'status', status: 200, count: 1, body })
    await assert.rejects(client.readSession(id, context), UpstreamBadResponseError)
  }
  simulator.injectFault({ op: 'write', kind: 'status', status: 200, count: 1, body: [] })
  await assert.rejects(client.writeSession(id, { metadata: {} }, context), UpstreamBadResponseError)
})

test('an attempt times out at its bound, not at undici\'s coarse timer', async (t) => {
  const { simulator, client, context } = await setUp(t)
  simulator.injectFault({ op: 'read', kind: 'hang', count: 1 })
  const boundMs = 150
  const started = performance.now()
  // UpstreamTimeoutError comes only from the client's own abort at the bound: undici's timer rejects with an
  // error of its own. How long after the bound it fires depends on the machine's load, so only "not before"
  // is checked, less the few ms by which the event loop's cached clock, which timers count from, may lag.
  await assert.rejects(client.readSession(simulator.seededSessionIds[0]!, { ...context, deadline: createDeadline(boundMs) }), UpstreamTimeoutError)
  assert.ok(performance.now() - started >= boundMs - 50, 'not before the bound')
})
