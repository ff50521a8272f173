import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MockAgent } from 'undici'
import { systemClock, type Clock } from '../src/deadline.ts'
import { patchSession, startTestApp, upstreamCalls } from './helper.ts'

// buildApp takes how AiFi is reached and what time it is as arguments, so a test can decide both.

test('AiFi calls go through the dispatcher given to buildApp: a redirect from AiFi is 502 and never followed', async (t) => {
  const agent = new MockAgent()
  agent.disableNetConnect()
  t.after(() => agent.close())
  const { app, simulator } = await startTestApp(t, { dispatcher: agent })
  const id = simulator.seededSessionIds[0]!
  agent
    .get(new URL(simulator.url).origin)
    .intercept({ path: (path) => path.startsWith('/api/admin/v2/sessions?'), method: 'GET' })
    .reply(302, '', { headers: { location: `${simulator.url}/elsewhere` } })

  const response = await patchSession(app, id, { metadata: { promo: 'X' } })
  assert.equal(response.statusCode, 502)
  assert.equal(response.json().type, 'E_UPSTREAM_BAD_RESPONSE')
  agent.assertNoPendingInterceptors()
  assert.equal(upstreamCalls(simulator, 'GET') + upstreamCalls(simulator, 'PATCH'), 0, 'the real simulator was never called')
})

test('the cycle waits on the clock given to buildApp: a re-run after AiFi’s 503 honours its Retry-After there', async (t) => {
  const waits: number[] = []
  // Real time for deadlines; waits are recorded and skipped, so a 5 s Retry-After costs the test nothing.
  const clock: Clock = { now: systemClock.now, delay: async (ms) => void waits.push(ms) }
  const { app, simulator } = await startTestApp(t, { clock })
  const id = simulator.seededSessionIds[0]!
  simulator.injectFault({ op: 'write', kind: 'status', status: 503, count: 1, headers: { 'retry-after': '5' } })

  const response = await patchSession(app, id, { metadata: { promo: 'X' } })
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['x-merge-result'], 'applied')
  assert.equal((simulator.getSession(id)!.metadata as { promo: string }).promo, 'X')
  assert.equal(upstreamCalls(simulator, 'PATCH'), 2, 'one failed write, one re-run')
  assert.equal(waits[0], 5_000, 'the backoff honoured the Retry-After, on the injected clock')
  // The quota paused for the same Retry-After, and its wait runs on the same clock.
  assert.ok(waits.slice(1).every((ms) => ms <= 5_000), `${waits}`)
})
