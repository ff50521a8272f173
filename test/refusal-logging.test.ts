import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IdempotencyStore } from '../src/idempotency/idempotency-store.ts'
import { createMemoryIdempotencyStore } from '../src/idempotency/memory-store.ts'
import { captureLogs, patchSession, startTestApp, until, upstreamCalls } from './helper.ts'

// docs/operations.md#logs: a 503 the proxy's own policy answers with is one line without a stack, at warn; a
// fault is an error with its stack; a cause is named, never quoted.

const WARN = 40
const ERROR = 50

function linesFor(logs: ReturnType<typeof captureLogs>, requestId: unknown) {
  return logs.entries().filter((entry) => entry.requestId === requestId && entry.msg !== 'incoming request' && entry.msg !== 'request completed')
}

test("the quota's refusal is a warning without a stack, not an error", async (t) => {
  const logs = captureLogs('info')
  // Half a call a second, a burst of four: two patches (two calls each) go at once, the third would wait 4 s.
  const env = { AIFI_MAX_RPS: '0.5', REQUEST_DEADLINE_MS: '1000' }
  const { app, simulator } = await startTestApp(t, { env, loggerInstance: logs.logger })
  const id = simulator.seededSessionIds[0]!
  for (const a of [1, 2]) assert.equal((await patchSession(app, id, { metadata: { a } })).statusCode, 200)
  const refused = await patchSession(app, id, { metadata: { a: 3 } })
  assert.equal(refused.statusCode, 503)
  assert.equal(refused.json().type, 'E_QUOTA_EXHAUSTED')
  assert.equal(upstreamCalls(simulator, 'GET'), 2, 'nothing was sent for the refused patch')

  const lines = linesFor(logs, refused.headers['x-request-id'])
  assert.deepEqual(lines.map((entry) => [entry.level, entry.msg, entry.type]), [[WARN, 'request refused', 'E_QUOTA_EXHAUSTED']])
  assert.equal(lines[0]!.err, undefined, 'no error object, so no stack')
})

test('a lock timeout and an unreachable idempotency store are warnings without a stack', async (t) => {
  const logs = captureLogs('info')
  const down: IdempotencyStore = {
    begin: () => Promise.reject(new Error('Redis did not answer within 1000 ms')),
    complete: () => Promise.resolve(),
    abandon: () => Promise.resolve(),
  }
  const { app, simulator } = await startTestApp(t, { env: { LOCK_WAIT_MS: '50', UPSTREAM_TIMEOUT_MS: '400' }, idempotency: down, loggerInstance: logs.logger })
  const id = simulator.seededSessionIds[0]!

  const unreachable = await patchSession(app, id, { metadata: { a: 1 } }, { headers: { 'idempotency-key': 'k' } })
  assert.equal(unreachable.json().type, 'E_COORDINATION_UNAVAILABLE')

  simulator.injectFault({ op: 'write', kind: 'hang', count: 1 })
  const first = patchSession(app, id, { metadata: { a: 1 } })
  await until(() => upstreamCalls(simulator, 'PATCH') > 0)
  const timedOut = await patchSession(app, id, { metadata: { b: 1 } })
  assert.equal(timedOut.json().type, 'E_LOCK_TIMEOUT')
  await first

  for (const [response, type] of [[unreachable, 'E_COORDINATION_UNAVAILABLE'], [timedOut, 'E_LOCK_TIMEOUT']] as const) {
    const lines = linesFor(logs, response.headers['x-request-id'])
    assert.deepEqual(lines.map((entry) => [entry.level, entry.msg, entry.type, entry.err]), [[WARN, 'request refused', type, undefined]])
  }
})

test('an AiFi failure stays an error with its stack, and its cause is named by type, never quoted', async (t) => {
  const logs = captureLogs('info')
  const { app, simulator } = await startTestApp(t, { env: { UPSTREAM_RETRIES: '0' }, loggerInstance: logs.logger })
  simulator.injectFault({ op: 'read', kind: 'status', status: 500, count: 1 })
  const failed = await patchSession(app, simulator.seededSessionIds[0]!, { metadata: { a: 1 } })
  assert.equal(failed.statusCode, 503)

  const [line] = linesFor(logs, failed.headers['x-request-id'])
  assert.equal(line?.level, ERROR)
  const err = line!.err as Record<string, unknown>
  assert.match(String(err.stack), /\n {4}at /)
  assert.doesNotMatch(String(err.message), /caused by/)
  assert.doesNotMatch(String(err.stack), /caused by/)
  assert.deepEqual(Object.keys(err.cause as object).sort(), ['type'])
})

test('a JSON error is never quoted in the logs, as the error or as its cause', async (t) => {
  const logs = captureLogs('info')
  const parseFailure = () => {
    try {
      JSON.parse('{"card": QUOTED-input}')
    } catch (error) {
      return error
    }
  }
  const memory = createMemoryIdempotencyStore()
  let keeps = 0
  const failing: IdempotencyStore = {
    ...memory,
    // The first keep fails with a JSON error itself, the second with one as its cause.
    complete: () => Promise.reject(++keeps === 1 ? parseFailure() : new Error('could not encode the answer', { cause: parseFailure() })),
  }
  const { app, simulator } = await startTestApp(t, { idempotency: failing, loggerInstance: logs.logger })
  for (const key of ['k-1', 'k-2']) {
    const response = await patchSession(app, simulator.seededSessionIds[0]!, { metadata: { key } }, { headers: { 'idempotency-key': key } })
    assert.equal(response.statusCode, 200, 'the write still answers')
  }

  assert.ok(!logs.lines.join('').includes('QUOTED'), 'the input is not quoted')
  const [first, second] = logs.entries().filter((entry) => entry.msg === 'could not keep the answer for an Idempotency-Key')
  const direct = first!.err as Record<string, unknown>
  assert.equal(direct.type, 'SyntaxError')
  assert.match(String(direct.stack), /^ {4}at /, 'the stack keeps its frames')
  assert.deepEqual(second!.err, { type: 'Error', message: 'could not encode the answer', stack: (second!.err as { stack: string }).stack, cause: { type: 'SyntaxError' } })
})
