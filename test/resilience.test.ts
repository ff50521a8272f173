import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import type { LightMyRequestResponse } from 'fastify'
import { createLogger } from '../src/logger.ts'
import type { JsonObject } from '../src/schemas.ts'
import type { Simulator } from '../src/simulator/simulator.ts'
import { getSession, patchSession, startTestApp, upstreamCalls } from './helper.ts'

const FAST = { UPSTREAM_TIMEOUT_MS: '300', REQUEST_DEADLINE_MS: '2000' }

/**
 * After every fault: each acknowledged patch is in the final state and no failed patch left a trace
 * (each patch here sets one key of its own, so "partly applied" would show as a present key).
 */
function assertAllOrNothing(simulator: Simulator, sessionId: string, results: Array<[string, LightMyRequestResponse]>) {
  const metadata = simulator.getSession(sessionId)!.metadata as JsonObject
  for (const [key, response] of results) {
    if (response.statusCode === 200) assert.equal(metadata[key], key, `acknowledged ${key} is stored`)
    else assert.equal(metadata[key], undefined, `failed ${key} left no trace`)
  }
}

async function patchKeys(app: Parameters<typeof patchSession>[0], sessionId: string, keys: string[]) {
  return Promise.all(keys.map(async (key) => [key, await patchSession(app, sessionId, { metadata: { [key]: key } })] as [string, LightMyRequestResponse]))
}

test('503 twice on reads and twice on writes: retried to success, writes by re-running the cycle', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: FAST })
  const id = simulator.seededSessionIds[0]!
  simulator.injectFault({ op: 'read', kind: 'status', status: 503, count: 2 })
  simulator.injectFault({ op: 'write', kind: 'status', status: 503, count: 2 })
  const results = await patchKeys(app, id, ['a'])
  assert.equal(results[0]![1].statusCode, 200)
  assert.equal(results[0]![1].headers['x-merge-result'], 'applied')
  assert.equal(upstreamCalls(simulator, 'PATCH'), 3)
  // 2 failed reads + 1, then a fresh read before each re-run write.
  assert.equal(upstreamCalls(simulator, 'GET'), 5)
  assertAllOrNothing(simulator, id, results)
})

test('persistent 503: 503 E_UPSTREAM_UNAVAILABLE with Retry-After, within the deadline, after bounded retries', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { ...FAST, UPSTREAM_RETRIES: '2' } })
  const id = simulator.seededSessionIds[0]!
  simulator.injectFault({ op: 'read', kind: 'status', status: 503, count: 100 })
  const results = await patchKeys(app, id, ['a'])
  const response = results[0]![1]
  assert.equal(response.statusCode, 503)
  assert.equal(response.json().type, 'E_UPSTREAM_UNAVAILABLE')
  assert.equal(response.headers['retry-after'], '1')
  // Within the deadline by the proxy's own clock: it starts no attempt and no wait the deadline cannot hold, so
  // every retry made means none was cut short. (A wall-clock bound here would measure the machine's load.)
  assert.equal(upstreamCalls(simulator, 'GET'), 3, 'one attempt and UPSTREAM_RETRIES retries')
  assertAllOrNothing(simulator, id, results)
})

test('persistent 503 on writes is answered 503 after bounded re-runs, never half-applied', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { ...FAST, UPSTREAM_RETRIES: '2' } })
  const id = simulator.seededSessionIds[0]!
  simulator.injectFault({ op: 'write', kind: 'status', status: 503, count: 100, headers: { 'retry-after': '0' } })
  const results = await patchKeys(app, id, ['a', 'b'])
  for (const [, response] of results) assert.equal(response.statusCode, 503)
  assert.ok(upstreamCalls(simulator, 'PATCH') <= 6)
  assertAllOrNothing(simulator, id, results)
})

test('a hanging AiFi is 504 E_UPSTREAM_TIMEOUT within the request deadline', async (t) => {
  // Retries enough for 20 s of 200 ms attempts, so only the deadline can end them within the test.
  const env = { UPSTREAM_TIMEOUT_MS: '200', REQUEST_DEADLINE_MS: '700', UPSTREAM_RETRIES: '100' }
  const { app, simulator } = await startTestApp(t, { env })
  const id = simulator.seededSessionIds[0]!
  simulator.injectFault({ op: 'read', kind: 'hang', count: 100 })
  const results = await patchKeys(app, id, ['a'])
  assert.equal(results[0]![1].statusCode, 504)
  assert.equal(results[0]![1].json().type, 'E_UPSTREAM_TIMEOUT')
  // Each attempt waits out its 200 ms, so at most four start within 700 ms however fast the machine: the deadline
  // ended the retries, not their count. The first timeout leaves time for another attempt, which is made.
  const attempts = upstreamCalls(simulator, 'GET')
  assert.ok(attempts >= 2 && attempts <= 4, `${attempts} attempts`)
  assert.equal(upstreamCalls(simulator, 'PATCH'), 0)
  assertAllOrNothing(simulator, id, results)
})

test('a socket reset is retried to success, on reads and on writes', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: FAST })
  const id = simulator.seededSessionIds[0]!
  simulator.injectFault({ op: 'read', kind: 'reset', count: 1 })
  simulator.injectFault({ op: 'write', kind: 'reset', count: 1 })
  const results = await patchKeys(app, id, ['a'])
  assert.equal(results[0]![1].statusCode, 200)
  assertAllOrNothing(simulator, id, results)
})

test('a write that landed before its connection reset is not applied twice and still answers applied', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: FAST })
  const id = simulator.seededSessionIds[0]!
  simulator.injectFault({ op: 'write', kind: 'reset', applyFirst: true, count: 1 })
  const results = await patchKeys(app, id, ['a'])
  assert.equal(results[0]![1].statusCode, 200)
  assert.equal(results[0]![1].headers['x-merge-result'], 'applied')
  assert.equal(upstreamCalls(simulator, 'PATCH'), 1, 'the re-run found nothing left to change')
  assertAllOrNothing(simulator, id, results)
})

test('If-Match is judged once: a re-run after a write that landed does not turn into 412', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: FAST })
  const id = simulator.seededSessionIds[0]!
  const etag = String((await getSession(app, id)).headers.etag)
  simulator.injectFault({ op: 'write', kind: 'status', status: 502, applyFirst: true, count: 1 })
  const response = await patchSession(app, id, { metadata: { a: 'a' } }, { headers: { 'if-match': etag } })
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['x-merge-result'], 'applied')
})

test('AiFi answering 401 to the proxy token is 502 E_UPSTREAM_AUTH; the token is in neither body nor logs', async (t) => {
  const lines: string[] = []
  const sink = new Writable({ write: (chunk, _encoding, next) => (lines.push(String(chunk)), next()) })
  const { app, simulator } = await startTestApp(t, { simulatorOptions: { token: 'aifi-token-5ecret' }, loggerInstance: createLogger({ logLevel: 'trace' }, sink) })
  const id = simulator.seededSessionIds[0]!
  simulator.injectFault({ op: 'read', kind: 'status', status: 401, count: 1 })
  const results = await patchKeys(app, id, ['a'])
  const response = results[0]![1]
  assert.equal(response.statusCode, 502)
  assert.equal(response.json().type, 'E_UPSTREAM_AUTH')
  assert.ok(lines.length > 0, 'logs were captured')
  for (const text of [response.body, ...lines]) assert.doesNotMatch(text, /5ecret/)
  assertAllOrNothing(simulator, id, results)
})

test('AiFi rejecting a write with 400 is 422 E_UPSTREAM_REJECTED carrying its errors', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: FAST })
  const id = simulator.seededSessionIds[0]!
  const errors = [{ error: '"metadata" must be of type object', rule: 'object.base', field: '"metadata"' }]
  simulator.injectFault({ op: 'write', kind: 'status', status: 400, count: 1, body: { message: 'Invalid request body', type: 'E_INVALID_BODY', errors } })
  const results = await patchKeys(app, id, ['a'])
  assert.equal(results[0]![1].statusCode, 422)
  assert.equal(results[0]![1].json().type, 'E_UPSTREAM_REJECTED')
  assert.deepEqual(results[0]![1].json().errors, errors)
  assertAllOrNothing(simulator, id, results)
})

test('a fraud-only write whose answer lost an event is not confirmed', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: FAST })
  const id = simulator.seededSessionIds[0]!
  const session = simulator.getSession(id)!
  simulator.injectFault({ op: 'write', kind: 'status', status: 200, count: 1, body: { ...session, suspectedFraud: true, metadata: {} } })
  const response = await patchSession(app, id, { suspectedFraud: true })
  assert.equal(response.statusCode, 502)
  assert.equal(response.json().type, 'E_UPSTREAM_BAD_RESPONSE')
})

test('an id that matches two sessions is 502 and writes nothing', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: FAST })
  const twin = simulator.createSession({ sessionId: 'twin', sessionToken: 'twin', metadata: { n: 1 } })
  simulator.createSession({ sessionId: 'twin', sessionToken: 'twin', metadata: { n: 2 } })
  const results = await patchKeys(app, twin.sessionId!, ['a'])
  assert.equal(results[0]![1].statusCode, 502)
  assert.equal(results[0]![1].json().type, 'E_UPSTREAM_BAD_RESPONSE')
  assert.equal(upstreamCalls(simulator, 'PATCH'), 0)
})

test('a write AiFi does not confirm is 502 E_UPSTREAM_BAD_RESPONSE, counted', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: FAST })
  const id = simulator.seededSessionIds[0]!
  simulator.injectFault({ op: 'write', kind: 'ignore-write', count: 1 })
  const results = await patchKeys(app, id, ['a'])
  assert.equal(results[0]![1].statusCode, 502)
  assert.equal(results[0]![1].json().type, 'E_UPSTREAM_BAD_RESPONSE')
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  assert.match(metrics.body, /^aifi_proxy_verification_failures_total 1$/m)
  assertAllOrNothing(simulator, id, results)
})

test('AiFi limited to 20 rps: 200 patches over 10 sessions all succeed and AiFi answers no 503', async (t) => {
  const { app, simulator } = await startTestApp(t, { simulatorOptions: { rateLimitRps: 20 } })
  const sessions = Array.from({ length: 10 }, () => simulator.createSession({ metadata: { events: [] } }).sessionId!)
  const results = await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const key = `k${i}`
      return [sessions[i % 10]!, key, await patchSession(app, sessions[i % 10]!, { metadata: { [key]: key } })] as const
    }),
  )
  for (const [, , response] of results) assert.equal(response.statusCode, 200)
  assert.equal(simulator.counters().rateLimited, 0)
  for (const id of sessions) {
    assertAllOrNothing(simulator, id, results.filter(([session]) => session === id).map(([, key, response]) => [key, response]))
  }
})

test('a rate-limiter wait longer than the deadline is 503 with Retry-After, and such calls never reach AiFi', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { AIFI_MAX_RPS: '2', REQUEST_DEADLINE_MS: '600' } })
  const sessions = Array.from({ length: 6 }, () => simulator.createSession({}).sessionId!)
  const responses = await Promise.all(sessions.map((id) => patchSession(app, id, { metadata: { a: 1 } })))
  const refused = responses.filter((response) => response.statusCode === 503)
  assert.ok(refused.length >= 3, `${refused.length} refused`)
  for (const response of refused) {
    // The quota, not AiFi, refused it: E_QUOTA_EXHAUSTED (docs/consistency.md#sharing-the-quota).
    assert.equal(response.json().type, 'E_QUOTA_EXHAUSTED')
    assert.ok(Number(response.headers['retry-after']) >= 1)
  }
  const accepted = responses.length - refused.length
  assert.equal(upstreamCalls(simulator, 'PATCH'), accepted)
  assert.equal(upstreamCalls(simulator, 'GET'), accepted)
})
