import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Simulator } from '../src/simulator/simulator.ts'
import { getSession, patchSession, startTestApp, upstreamCalls } from './helper.ts'

// docs/http-api.md#numbers, end to end: sessions are created in the simulator from JSON text over its control
// endpoint, and what it stores is read back as text, so every digit the proxy wrote is visible.

async function createFromText(simulator: Simulator, text: string): Promise<void> {
  const response = await fetch(`${simulator.url}/__sim/sessions`, { method: 'POST', body: text })
  assert.equal(response.status, 201)
}

async function storedText(simulator: Simulator, sessionId: string): Promise<string> {
  const response = await fetch(`${simulator.url}/__sim/sessions/${encodeURIComponent(sessionId)}`)
  assert.equal(response.status, 200)
  return response.text()
}

const BIG_SESSION =
  '{"sessionId":"big-1","metadata":{"orderId":12345678901234567890,"events":[{"eventId":"e1","ts":1700000000000000001}]}}'

test("a write that touches neither keeps AiFi's big integers in untouched keys and in events, digit for digit", async (t) => {
  const { app, simulator } = await startTestApp(t, { simulatorOptions: { seed: false } })
  await createFromText(simulator, BIG_SESSION)

  const response = await patchSession(app, 'big-1', '{"metadata":{"note":"hi"}}')
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['x-merge-result'], 'applied')
  const stored = await storedText(simulator, 'big-1')
  assert.ok(stored.includes('"orderId":12345678901234567890'), stored)
  assert.ok(stored.includes('{"eventId":"e1","ts":1700000000000000001}'), stored)
  assert.ok(stored.includes('"note":"hi"'), stored)
  // The caller's answer carries AiFi's digits too.
  assert.ok(response.body.includes('"orderId":12345678901234567890'))
  assert.ok(response.body.includes('"ts":1700000000000000001'))
})

test("the caller's numbers are written with the caller's text", async (t) => {
  const { app, simulator } = await startTestApp(t, { simulatorOptions: { seed: false } })
  await createFromText(simulator, '{"sessionId":"s-1","metadata":{"events":[]}}')
  const numbers = '"big":9007199254740993,"long":0.1000000000000000055511151231257827,"tiny":1e-400,"one":1.0,"zero":-0,"e":1E21'

  const response = await patchSession(app, 's-1', `{"metadata":{${numbers},"nested":[{"n":-12345678901234567890123}]}}`)
  assert.equal(response.statusCode, 200)
  const stored = await storedText(simulator, 's-1')
  for (const member of numbers.split(',')) assert.ok(stored.includes(member), `${member} in ${stored}`)
  assert.ok(stored.includes('"nested":[{"n":-12345678901234567890123}]'), stored)
})

test('numbers compare by exact decimal value: 1.0 is 1 (a no-op, one ETag), but 12345678901234567000 is a change', async (t) => {
  const { app, simulator } = await startTestApp(t, { simulatorOptions: { seed: false } })
  await createFromText(simulator, '{"sessionId":"n-1","metadata":{"a":1.0,"b":-0,"c":1e2}}')
  await createFromText(simulator, '{"sessionId":"n-2","metadata":{"a":1,"b":0,"c":100}}')
  await createFromText(simulator, BIG_SESSION)

  assert.equal((await getSession(app, 'n-1')).headers.etag, (await getSession(app, 'n-2')).headers.etag)
  const same = await patchSession(app, 'n-1', '{"metadata":{"a":1,"b":0,"c":100}}')
  assert.equal(same.headers['x-merge-result'], 'noop')
  assert.equal(upstreamCalls(simulator, 'PATCH'), 0)
  assert.ok((await storedText(simulator, 'n-1')).includes('"metadata":{"a":1.0,"b":-0,"c":1e2}'))

  const rounded = await patchSession(app, 'big-1', '{"metadata":{"orderId":12345678901234567000}}')
  assert.equal(rounded.headers['x-merge-result'], 'applied')
  assert.ok((await storedText(simulator, 'big-1')).includes('"orderId":12345678901234567000'))
})

test("verification compares AiFi's answer digit for digit: an answer that rounds what was written is 502", async (t) => {
  const { app, simulator } = await startTestApp(t, { simulatorOptions: { seed: false } })
  await createFromText(simulator, BIG_SESSION)
  // AiFi answers 200 with the number rounded the way a double rounds it, as a lossy store would.
  const answer = JSON.parse('{"sessionId":"big-1","metadata":{"orderId":12345678901234567890,"note":"hi","events":[{"eventId":"e1","ts":1700000000000000001}]}}') as object
  simulator.injectFault({ op: 'write', kind: 'status', status: 200, count: 1, body: answer })

  const response = await patchSession(app, 'big-1', '{"metadata":{"note":"hi"}}')
  assert.equal(response.statusCode, 502)
  assert.equal(response.json().type, 'E_UPSTREAM_BAD_RESPONSE')
})

test('numbers outside the double range are still malformed JSON; a number is not metadata', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  for (const body of ['{"metadata":{"a":[1E400]}}', '{"metadata":{"a":-1e99999999999999999999}}', `{"metadata":{"a":1${'0'.repeat(400)}}}`]) {
    const response = await patchSession(app, id, body)
    assert.equal(response.statusCode, 400, body)
    assert.equal(response.json().type, 'E_INVALID_BODY')
  }
  for (const body of ['{"metadata":1.0}', '{"metadata":12345678901234567890}', '{"suspectedFraud":1.0}']) {
    const response = await patchSession(app, id, body)
    assert.equal(response.statusCode, 400, body)
    assert.equal(response.json().type, 'E_INVALID_BODY')
  }
  assert.equal(upstreamCalls(simulator, 'PATCH'), 0)
})

test('current metadata that is a number AiFi sent as text is not an object: 502, and nothing is written', async (t) => {
  const { app, simulator } = await startTestApp(t, { simulatorOptions: { seed: false } })
  await createFromText(simulator, '{"sessionId":"m-1","metadata":12345678901234567890}')

  const response = await patchSession(app, 'm-1', { metadata: {} })
  assert.equal(response.statusCode, 502)
  assert.equal(upstreamCalls(simulator, 'PATCH'), 0)
  assert.ok((await storedText(simulator, 'm-1')).includes('"metadata":12345678901234567890'))
})
