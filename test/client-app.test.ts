import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { MergeProxyError, createClient, type ClientOptions } from '../client/index.ts'
import { CALLER_SECRET, getSession, listenOnFreePort, patchSession, startTestApp, type TestAppOptions, until, upstreamCalls } from './helper.ts'

// The client against the real app on a real port, over a fresh simulator.

async function startClientApp(t: TestContext, options: TestAppOptions = {}, client: Partial<ClientOptions> = {}) {
  const started = await startTestApp(t, options)
  const baseUrl = `http://127.0.0.1:${await listenOnFreePort(started.app)}`
  return { ...started, baseUrl, client: createClient({ baseUrl, apiKey: CALLER_SECRET, ...client }) }
}

async function rejection(work: Promise<unknown>): Promise<MergeProxyError> {
  const error = await work.then(() => assert.fail('expected a rejection'), (error: unknown) => error)
  assert.ok(error instanceof MergeProxyError, String(error))
  return error
}

const EVENTS = [{ eventId: 'e1', type: 'ThirdParty' }]

test('client merge and get against the proxy: ETag, If-Match, merge result, request id and dry run', async (t) => {
  const { client, simulator, app } = await startClientApp(t)
  const id = simulator.createSession({ metadata: { events: EVENTS, kept: 1 } }).sessionId!

  const read = await client.get(id)
  assert.equal(read.etag, (await getSession(app, id)).headers.etag)
  assert.deepEqual(read.session.metadata, { events: EVENTS, kept: 1 })

  const merged = await client.merge(id, { metadata: { tier: 'gold' } }, { ifMatch: read.etag })
  assert.equal(merged.mergeResult, 'applied')
  assert.equal(merged.attempts, 1)
  assert.equal(merged.replayed, false)
  assert.match(merged.requestId ?? '', /.+/)
  assert.notEqual(merged.etag, read.etag)
  assert.deepEqual(merged.session.metadata, { events: EVENTS, kept: 1, tier: 'gold' })
  assert.deepEqual(simulator.getSession(id)!.metadata, { events: EVENTS, kept: 1, tier: 'gold' })

  assert.equal((await client.merge(id, { metadata: { tier: 'gold' } })).mergeResult, 'noop')
  const preview = await client.merge(id, { metadata: { tier: null } }, { dryRun: true })
  assert.equal(preview.mergeResult, 'dry-run')
  assert.deepEqual(preview.session.metadata, { events: EVENTS, kept: 1 })
  assert.equal((await client.merge(id, { suspectedFraud: true })).session.suspectedFraud, true)
  assert.equal(upstreamCalls(simulator, 'PATCH'), 2, 'the no-op and the dry run wrote nothing')
})

test('client rejects the proxy errors at once, with their status, type, errors and request id', async (t) => {
  const { client, simulator, baseUrl } = await startClientApp(t)
  const id = simulator.seededSessionIds[0]!

  const stale = await rejection(client.merge(id, { metadata: { a: 1 } }, { ifMatch: '"stale"' }))
  assert.deepEqual([stale.status, stale.type, stale.attempts], [412, 'E_PRECONDITION_FAILED', 1])
  assert.match(stale.requestId ?? '', /.+/)

  const reserved = await rejection(client.merge(id, { metadata: { events: [] } }))
  assert.deepEqual([reserved.status, reserved.type, reserved.attempts], [400, 'E_RESERVED_KEY', 1])
  assert.equal(reserved.errors[0]?.field, '/metadata/events')

  const missing = await rejection(client.get('no-such-session'))
  assert.deepEqual([missing.status, missing.type], [404, 'E_SESSION_NOT_FOUND'])

  const wrongKey = 'not-a-caller-key-9c1d'
  const unauthorized = await rejection(createClient({ baseUrl, apiKey: wrongKey }).merge(id, { metadata: { a: 1 } }))
  assert.deepEqual([unauthorized.status, unauthorized.type, unauthorized.attempts], [401, 'E_UNAUTHORIZED', 1])
  assert.ok(!`${unauthorized.message} ${JSON.stringify(unauthorized.errors)}`.includes(wrongKey))
  assert.equal(upstreamCalls(simulator, 'PATCH'), 0)
})

test('client retry after an attempt timeout gets the first answer, after 409s, and keeps a newer value', async (t) => {
  // The first attempt times out (300 ms) while the proxy is still writing (1500 ms); its retries carry the same
  // Idempotency-Key, so they get 409 while it runs and then its answer, instead of writing `gold` again over the
  // `platinum` another caller wrote in between.
  const seen: Array<{ key: string | null; status: number | 'no answer' }> = []
  const recordingFetch: ClientOptions['fetch'] = async (url, init) => {
    const entry: (typeof seen)[number] = { key: new Headers(init.headers).get('idempotency-key'), status: 'no answer' }
    seen.push(entry)
    const response = await fetch(url, init)
    entry.status = response.status
    return response
  }
  const { client, simulator, app } = await startClientApp(t, {}, { fetch: recordingFetch, timeoutMs: 300, deadlineMs: 20_000, retries: 6 })
  const id = simulator.createSession({ metadata: { events: EVENTS, kept: 1 } }).sessionId!

  simulator.setLatency({ op: 'write', ms: 1500 })
  const first = client.merge(id, { metadata: { tier: 'gold' } })
  await until(() => upstreamCalls(simulator, 'PATCH') > 0)
  simulator.setLatency({ op: 'write', ms: 0 })
  // Queued behind the first write, and written before the client's retries stop getting 409.
  const newer = patchSession(app, id, { metadata: { tier: 'platinum' } })

  const result = await first
  assert.equal((await newer).statusCode, 200)
  assert.equal(result.mergeResult, 'applied')
  assert.equal(result.replayed, true)
  assert.equal((result.session.metadata as { tier?: string }).tier, 'gold', 'the first answer')
  assert.deepEqual(simulator.getSession(id)!.metadata, { events: EVENTS, kept: 1, tier: 'platinum' })
  assert.equal(upstreamCalls(simulator, 'PATCH'), 2, 'the first write and the newer one: gold was applied once')

  assert.equal(result.attempts, seen.length)
  assert.equal(new Set(seen.map((attempt) => attempt.key)).size, 1, 'one Idempotency-Key for every attempt')
  assert.equal(seen[0]!.status, 'no answer')
  assert.ok(seen.some((attempt) => attempt.status === 409), JSON.stringify(seen))
  assert.equal(seen.at(-1)!.status, 200)
})
