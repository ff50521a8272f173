import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { MergeProxyError, createClient, type Session, type SessionPatch } from '../client/index.ts'
import { CALLER_SECRET, listenOnFreePort, startTestApp, upstreamCalls } from './helper.ts'

// update(): read-compute-write with If-Match, against the real app and simulator.

const EVENTS = [{ eventId: 'e1', type: 'Handoff' }]
const CALLERS = 20

async function startCounter(t: TestContext) {
  // Twenty callers re-reading after each conflict make a few hundred upstream calls: keep AiFi's rate limit out of it.
  const { app, simulator } = await startTestApp(t, { env: { AIFI_MAX_RPS: '10000' } })
  const client = createClient({ baseUrl: `http://127.0.0.1:${await listenOnFreePort(app)}`, apiKey: CALLER_SECRET })
  const id = simulator.createSession({ metadata: { events: EVENTS, counter: 0 } }).sessionId!
  return { client, simulator, id }
}

/**
 * An increment whose first computation waits until every caller has read: all of them then write against the same
 * ETag, so all but one meet a 412 in their first round, whatever the machine's speed.
 */
function contendedIncrement(callers: number) {
  let arrived = 0
  let release: () => void = () => {}
  const everyoneRead = new Promise<void>((resolve) => (release = resolve))
  return () => {
    let firstRound = true
    return async (session: Session): Promise<SessionPatch> => {
      const counter = (session.metadata as { counter: number }).counter
      if (firstRound) {
        firstRound = false
        if (++arrived === callers) release()
        await everyoneRead
      }
      return { metadata: { counter: counter + 1 } }
    }
  }
}

test('client update: 20 concurrent increments with attempts 25 all land, the counter ends at 20', async (t) => {
  const { client, simulator, id } = await startCounter(t)
  const increment = contendedIncrement(CALLERS)
  const results = await Promise.all(Array.from({ length: CALLERS }, () => client.update(id, increment(), { attempts: 25 })))

  assert.deepEqual(simulator.getSession(id)!.metadata, { events: EVENTS, counter: CALLERS })
  assert.ok(results.every((result) => result.mergeResult === 'applied'))
  assert.deepEqual(results.map((result) => (result.session.metadata as { counter: number }).counter).sort((a, b) => a - b),
    Array.from({ length: CALLERS }, (_, index) => index + 1), 'each caller saw its own increment')
  assert.ok(results.some((result) => result.attempts > 1), 'conflicts were read again and recomputed')
})

test('client update with attempts 1 rejects the callers that lost the race with the 412', async (t) => {
  const { client, simulator, id } = await startCounter(t)
  const increment = contendedIncrement(CALLERS)
  const settled = await Promise.allSettled(Array.from({ length: CALLERS }, () => client.update(id, increment(), { attempts: 1 })))

  const rejected = settled.filter((outcome) => outcome.status === 'rejected').map((outcome) => outcome.reason as unknown)
  assert.equal(rejected.length, CALLERS - 1)
  for (const error of rejected) {
    assert.ok(error instanceof MergeProxyError)
    assert.deepEqual([error.status, error.type], [412, 'E_PRECONDITION_FAILED'])
  }
  assert.deepEqual(simulator.getSession(id)!.metadata, { events: EVENTS, counter: 1 })
})

test('client update writes nothing when the function has nothing to do, and resolves with the session read', async (t) => {
  const { client, simulator, id } = await startCounter(t)
  const result = await client.update(id, () => undefined)
  assert.equal(result.mergeResult, 'noop')
  assert.equal(result.attempts, 1)
  assert.deepEqual(result.session.metadata, { events: EVENTS, counter: 0 })
  assert.equal(result.etag, (await client.get(id)).etag)
  assert.equal(upstreamCalls(simulator, 'PATCH'), 0)
})
