import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request, type Dispatcher } from 'undici'
import { DEMO_SESSION_ID, startSimulator, type Simulator, type SimulatorOptions } from '../src/simulator/simulator.ts'
import { EventsNotAppendableError, UnknownSessionError } from '../src/simulator/simulator-errors.ts'

const LIST = '/api/admin/v2/sessions'

interface Harness {
  sim: Simulator
  call(method: Dispatcher.HttpMethod, path: string, options?: CallOptions): Promise<Reply>
  send(method: Dispatcher.HttpMethod, path: string, options?: CallOptions): Promise<Dispatcher.ResponseData>
}
interface CallOptions {
  body?: unknown
  /** `null` sends no Authorization header; a string replaces the whole header. */
  authorization?: string | null
  headers?: Record<string, string>
  signal?: AbortSignal
}
interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: <T = Record<string, unknown>>() => T
}

/** A fresh simulator on port 0 and an agent of its own, both closed when the test ends. */
async function startHarness(t: TestContext, options: SimulatorOptions = {}): Promise<Harness> {
  const sim = await startSimulator(options)
  const dispatcher = new Agent()
  t.after(async () => {
    await sim.close()
    await dispatcher.close()
  })
  const send = (method: Dispatcher.HttpMethod, path: string, options: CallOptions = {}) => {
    const headers: Record<string, string> = { ...options.headers }
    if (options.authorization !== null) headers.authorization = options.authorization ?? `Bearer ${sim.token}`
    const { body: given } = options
    const body = given === undefined || typeof given === 'string' ? given : JSON.stringify(given)
    if (body !== undefined) headers['content-type'] ??= 'application/json'
    return request(`${sim.url}${path}`, { method, headers, body, dispatcher, signal: options.signal })
  }
  const call = async (method: Dispatcher.HttpMethod, path: string, options: CallOptions = {}) => {
    const response = await send(method, path, options)
    const text = await response.body.text()
    return { status: response.statusCode, headers: response.headers, text, json: <T>() => JSON.parse(text) as T }
  }
  return { sim, call, send }
}

const sessionPath = (sessionId: string) => `${LIST}/${encodeURIComponent(sessionId)}`

interface ListBody {
  data: Array<Record<string, unknown>>
  pagination: { next: string | null; count: number }
}

/** Resolves once `condition` holds; for state only visible by asking the simulator, never a fixed sleep. */
async function waitFor(condition: () => boolean): Promise<void> {
  for (let attempt = 0; !condition(); attempt++) {
    if (attempt > 400) throw new Error('condition never became true')
    await sleep(5)
  }
}

test('seeds three sessions whose metadata holds AiFi events, the demo session first', async (t) => {
  const { sim, call } = await startHarness(t)
  assert.equal(sim.seededSessionIds.length, 3)
  assert.equal(sim.seededSessionIds[0], DEMO_SESSION_ID)
  for (const sessionId of sim.seededSessionIds) {
    const session = sim.getSession(sessionId)
    const metadata = session?.metadata as { events: Array<{ eventId: string; metadata: object }> }
    assert.ok(metadata.events.length >= 1)
    assert.ok(Object.keys(metadata).length >= 3, 'ordinary keys next to events')
  }
  const unseeded = await startHarness(t, { seed: false })
  assert.deepEqual(unseeded.sim.seededSessionIds, [])
  assert.equal((await unseeded.call('GET', LIST)).json<ListBody>().data.length, 0)
  assert.match(sim.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  assert.equal((await call('GET', LIST)).status, 200)
})

test('creates AiFi-shaped sessions with an undocumented extra field, and hands out copies only', async (t) => {
  const { sim } = await startHarness(t, { seed: false })
  const session = sim.createSession()
  assert.equal(session.id, 1)
  assert.equal(session.sessionToken, session.sessionId)
  assert.equal(session.status, 'active')
  assert.equal(session.suspectedFraud, false)
  assert.deepEqual(session.metadata, { events: [] })
  assert.equal(typeof session.shoppingSessionFlags, 'object')
  assert.ok(Object.keys(session).length >= 28)

  const custom = sim.createSession({ sessionToken: 'tok-1', metadata: null, storeId: 9 })
  assert.equal(custom.sessionId, 'tok-1')
  assert.equal(custom.metadata, null)
  assert.equal(custom.storeId, 9)
  assert.equal(custom.id, 2)

  ;(session.metadata as { events: unknown[] }).events.push('mutated')
  assert.deepEqual(sim.getSession(String(session.sessionId))?.metadata, { events: [] })
  assert.equal(sim.getSession('no-such-session'), undefined)
})

test('appends AiFi-style events, creating metadata when absent and refusing a non-array events', async (t) => {
  const { sim } = await startHarness(t, { seed: false })
  const session = sim.createSession({ sessionId: 's1', metadata: { keep: 1 } })
  const updated = sim.appendEvent('s1', { eventId: 'e1', metadata: { key: 'value' } })
  assert.deepEqual(updated.metadata, { keep: 1, events: [{ eventId: 'e1', metadata: { key: 'value' } }] })
  const generated = sim.appendEvent('s1')
  const events = (generated.metadata as { events: Array<{ eventId: string; metadata: unknown }> }).events
  assert.match(events[1]?.eventId ?? '', /^[0-9a-f-]{36}$/)
  assert.deepEqual(events[1]?.metadata, {})
  assert.equal(session.id, 1)

  sim.createSession({ sessionId: 'bare', metadata: null })
  assert.deepEqual(sim.appendEvent('bare', { eventId: 'e2' }).metadata, { events: [{ eventId: 'e2', metadata: {} }] })
  sim.createSession({ sessionId: 'odd', metadata: { events: 'not a list' } })
  assert.throws(() => sim.appendEvent('odd'), EventsNotAppendableError)
  assert.throws(() => sim.appendEvent('missing'), UnknownSessionError)
})

test('answers 401 with an empty body without a valid bearer token', async (t) => {
  const { sim, call } = await startHarness(t)
  for (const authorization of [null, 'Bearer wrong', `Basic ${sim.token}`, 'Bearer']) {
    const reply = await call('GET', LIST, { authorization })
    assert.equal(reply.status, 401, String(authorization))
    assert.equal(reply.text, '')
  }
  const patch = await call('PATCH', sessionPath(DEMO_SESSION_ID), { authorization: null, body: { metadata: {} } })
  assert.equal(patch.status, 401)
  assert.notDeepEqual(sim.getSession(DEMO_SESSION_ID)?.metadata, {})
  assert.equal((await call('GET', LIST, { authorization: `bEaReR ${sim.token}` })).status, 200)
})

test('lists sessions by id with the pagination envelope, count and after', async (t) => {
  const { sim, call } = await startHarness(t, { seed: false })
  for (let index = 0; index < 5; index++) sim.createSession()
  const ids = (body: ListBody) => body.data.map((session) => session.id)

  const first = (await call('GET', `${LIST}?count=2`)).json<ListBody>()
  assert.deepEqual(ids(first), [1, 2])
  assert.deepEqual(first.pagination, { next: '2', count: 2 })
  const second = (await call('GET', `${LIST}?count=2&after=2`)).json<ListBody>()
  assert.deepEqual(ids(second), [3, 4])
  assert.deepEqual(second.pagination, { next: '4', count: 2 })
  const last = (await call('GET', `${LIST}?count=2&after=4&unknownParam=x`)).json<ListBody>()
  assert.deepEqual(ids(last), [5])
  assert.deepEqual(last.pagination, { next: null, count: 1 })

  const all = (await call('GET', LIST)).json<ListBody>()
  assert.deepEqual(ids(all), [1, 2, 3, 4, 5])
  assert.equal(all.pagination.next, null)
  assert.deepEqual(ids((await call('GET', `${LIST}?id=3`)).json<ListBody>()), [3])
  assert.equal((await call('GET', `${LIST}?count=200`)).status, 200)
})

test('rejects a bad count, id or after with a 400 E_INVALID_BODY', async (t) => {
  const { call } = await startHarness(t)
  const cases: Array<[string, string]> = [
    ['count=0', 'number.min'],
    ['count=201', 'number.max'],
    ['count=abc', 'number.base'],
    ['count=1.5', 'number.integer'],
    ['id=abc', 'number.base'],
    ['after=', 'number.base'],
  ]
  for (const [query, rule] of cases) {
    const reply = await call('GET', `${LIST}?${query}`)
    assert.equal(reply.status, 400, query)
    const body = reply.json<{ type: string; errors: Array<{ rule: string; field: string }> }>()
    assert.equal(body.type, 'E_INVALID_BODY')
    assert.equal(body.errors[0]?.rule, rule, query)
  }
})

test('filters by sessionToken with an exact match, duplicates included', async (t) => {
  const { sim, call } = await startHarness(t, { seed: false })
  sim.createSession({ sessionId: 'abc' })
  sim.createSession({ sessionId: 'abcd' })
  sim.createSession({ sessionId: 'ABC' })
  const single = (await call('GET', `${LIST}?sessionToken=abc&count=2`)).json<ListBody>()
  assert.deepEqual(single.data.map((session) => session.sessionToken), ['abc'])

  sim.createSession({ sessionId: 'abc' })
  const twice = (await call('GET', `${LIST}?sessionToken=abc&count=2`)).json<ListBody>()
  assert.deepEqual(twice.data.map((session) => session.id), [1, 4])
  assert.equal((await call('GET', `${LIST}?sessionToken=nope`)).json<ListBody>().data.length, 0)
})

test('PATCH replaces metadata wholesale, raises the fraud flag and keeps unknown fields', async (t) => {
  const { sim, call } = await startHarness(t)
  const before = sim.getSession(DEMO_SESSION_ID)
  const reply = await call('PATCH', sessionPath(DEMO_SESSION_ID), { body: { metadata: { only: 'this' } } })
  assert.equal(reply.status, 200)
  assert.match(String(reply.headers['content-type']), /^application\/json/)
  const session = reply.json()
  assert.deepEqual(session.metadata, { only: 'this' }, 'AiFi drops the events: the reason the proxy exists')
  assert.deepEqual(session.shoppingSessionFlags, before?.shoppingSessionFlags)
  assert.equal(session.suspectedFraud, false)
  assert.ok(String(session.updatedAt) >= String(before?.updatedAt))
  assert.deepEqual(sim.getSession(DEMO_SESSION_ID)?.metadata, { only: 'this' })

  const flagged = await call('PATCH', sessionPath(DEMO_SESSION_ID), { body: { suspectedFraud: true } })
  assert.equal(flagged.json().suspectedFraud, true)
  assert.deepEqual(flagged.json().metadata, { only: 'this' })
  assert.deepEqual((await call('PATCH', sessionPath(DEMO_SESSION_ID), { body: {} })).json().metadata, { only: 'this' })
})

test('rejects invalid PATCH bodies with AiFi-style 400s and writes nothing', async (t) => {
  const { sim, call } = await startHarness(t)
  const path = sessionPath(DEMO_SESSION_ID)
  const stored = sim.getSession(DEMO_SESSION_ID)

  const fraudFalse = await call('PATCH', path, { body: { suspectedFraud: false } })
  assert.equal(fraudFalse.status, 400)
  assert.deepEqual(fraudFalse.json(), {
    message: 'Invalid request body',
    type: 'E_INVALID_BODY',
    errors: [{ error: '"suspectedFraud" must be [true]', rule: 'any.only', field: '"suspectedFraud"' }],
  })
  for (const metadata of [null, [], 'text', 5]) {
    const reply = await call('PATCH', path, { body: { metadata } })
    assert.equal(reply.status, 400, JSON.stringify(metadata))
    assert.deepEqual(reply.json().errors, [
      { error: '"metadata" must be of type object', rule: 'object.base', field: '"metadata"' },
    ])
  }
  const unknown = await call('PATCH', path, { body: { metadata: {}, status: 'closed' } })
  assert.deepEqual(unknown.json().errors, [
    { error: '"status" is not allowed', rule: 'object.unknown', field: '"status"' },
  ])
  for (const body of ['{"metadata": ', '[]', '"x"', '']) {
    const reply = await call('PATCH', path, { body })
    assert.equal(reply.status, 400, body)
    assert.equal(reply.json().type, 'E_INVALID_BODY')
  }
  assert.deepEqual(sim.getSession(DEMO_SESSION_ID), stored)
})

test('answers 404 with an empty body for unknown sessions and paths, decoding the id', async (t) => {
  const { sim, call } = await startHarness(t)
  const unknown = await call('PATCH', `${LIST}/a%2Fb`, { body: { metadata: {} } })
  assert.equal(unknown.status, 404)
  assert.equal(unknown.text, '')
  assert.equal((await call('PATCH', `${LIST}/%E0%A4%A`, { body: {} })).status, 404)

  sim.createSession({ sessionId: 'a/b' })
  assert.equal((await call('PATCH', `${LIST}/a%2Fb`, { body: { metadata: { x: 1 } } })).status, 200)
  assert.deepEqual(sim.getSession('a/b')?.metadata, { x: 1 })

  const elsewhere = [['GET', sessionPath(DEMO_SESSION_ID)], ['GET', '/elsewhere'], ['POST', LIST]] as const
  for (const [method, path] of elsewhere) {
    const reply = await call(method, path)
    assert.equal(reply.status, 404, `${method} ${path}`)
    assert.equal(reply.text, '')
  }
})

test('status faults answer in injection order with their body and headers, then clear', async (t) => {
  const { sim, call } = await startHarness(t)
  sim.injectFault({ op: 'read', count: 2, kind: 'status', status: 503, headers: { 'retry-after': '1' } })
  sim.injectFault({ op: 'read', count: 1, kind: 'status', status: 500, body: 'upstream exploded' })
  sim.injectFault({ op: 'read', count: 1, kind: 'status', status: 422, body: { message: 'nope' } })

  for (let index = 0; index < 2; index++) {
    const reply = await call('GET', LIST)
    assert.equal(reply.status, 503)
    assert.equal(reply.headers['retry-after'], '1')
    assert.equal(reply.text, '')
  }
  const text = await call('GET', LIST)
  assert.deepEqual([text.status, text.text], [500, 'upstream exploded'])
  const json = await call('GET', LIST)
  assert.equal(json.status, 422)
  assert.match(String(json.headers['content-type']), /^application\/json/)
  assert.deepEqual(json.json(), { message: 'nope' })
  assert.equal((await call('GET', LIST)).status, 200)
  assert.equal((await call('PATCH', sessionPath(DEMO_SESSION_ID), { body: {} })).status, 200, 'reads only')
})

test('a write fault fails without writing, unless applyFirst lands the write first', async (t) => {
  const { sim, call } = await startHarness(t)
  const path = sessionPath(DEMO_SESSION_ID)
  sim.injectFault({ op: 'write', count: 1, kind: 'status', status: 502 })
  assert.equal((await call('PATCH', path, { body: { metadata: { lost: true } } })).status, 502)
  assert.equal((sim.getSession(DEMO_SESSION_ID)?.metadata as Record<string, unknown>).lost, undefined)

  sim.injectFault({ op: 'write', count: 1, kind: 'status', status: 500, applyFirst: true })
  assert.equal((await call('PATCH', path, { body: { metadata: { landed: true } } })).status, 500)
  assert.deepEqual(sim.getSession(DEMO_SESSION_ID)?.metadata, { landed: true })

  sim.injectFault({ op: 'write', count: 1, kind: 'reset', applyFirst: true })
  await assert.rejects(call('PATCH', path, { body: { metadata: { reset: true } } }))
  assert.deepEqual(sim.getSession(DEMO_SESSION_ID)?.metadata, { reset: true })
})

test('ignore-write answers 200 with the stored session without applying the write', async (t) => {
  const { sim, call } = await startHarness(t)
  const stored = sim.getSession(DEMO_SESSION_ID)
  sim.injectFault({ op: 'write', count: 1, kind: 'ignore-write' })
  const reply = await call('PATCH', sessionPath(DEMO_SESSION_ID), { body: { metadata: { ignored: true } } })
  assert.equal(reply.status, 200)
  assert.deepEqual(reply.json(), stored)
  assert.deepEqual(sim.getSession(DEMO_SESSION_ID), stored)
  assert.deepEqual((await call('PATCH', sessionPath(DEMO_SESSION_ID), { body: { metadata: {} } })).json().metadata, {})
})

test('a reset fault drops the connection without an answer', async (t) => {
  const { sim, call } = await startHarness(t)
  sim.injectFault({ op: 'read', count: 1, kind: 'reset' })
  await assert.rejects(call('GET', LIST), (error: NodeJS.ErrnoException) => {
    assert.match(String(error.code), /ECONNRESET|UND_ERR_SOCKET/)
    return true
  })
  assert.equal((await call('GET', LIST)).status, 200)
  assert.equal(sim.counters().log[0]?.status, null)
})

test('a hang fault never answers, until the client gives up', async (t) => {
  const { sim, call } = await startHarness(t)
  sim.injectFault({ op: 'read', count: 1, kind: 'hang' })
  // An abort signal rather than undici's headersTimeout, whose coarse timer would take about a second.
  await assert.rejects(call('GET', LIST, { signal: AbortSignal.timeout(100) }), { name: 'TimeoutError' })
  assert.equal((await call('GET', LIST)).status, 200)
})

test('close() promptly ends a hung request and one waiting out its latency', async (t) => {
  const { sim, send } = await startHarness(t)
  sim.injectFault({ op: 'write', count: 1, kind: 'hang', applyFirst: true })
  sim.setLatency({ op: 'read', ms: 60_000 })
  // The rejections are expected while close() runs, so they are claimed before it starts.
  const hung = assert.rejects(send('PATCH', sessionPath(DEMO_SESSION_ID), { body: { metadata: { hung: true } } }))
  const slow = assert.rejects(send('GET', LIST))
  await waitFor(() => sim.counters().log.length === 2 && sim.counters().patchBodies.length === 1)
  const started = performance.now()
  await sim.close()
  await Promise.all([hung, slow])
  assert.deepEqual(sim.getSession(DEMO_SESSION_ID)?.metadata, { hung: true })
  assert.ok(performance.now() - started < 1000, 'closed promptly')
  await assert.rejects(send('GET', LIST), 'no longer listening')
})

test('latency delays answers and makes concurrent PATCHes of a session overlap', async (t) => {
  const { sim, call } = await startHarness(t, { seed: false })
  sim.createSession({ sessionId: 'busy' })
  sim.createSession({ sessionId: 'calm' })
  sim.setLatency({ op: 'write', ms: 60 })

  const started = performance.now()
  const patch = (n: number) => call('PATCH', sessionPath('busy'), { body: { metadata: { n } } })
  const replies = await Promise.all([patch(1), patch(2), patch(3)])
  assert.ok(performance.now() - started >= 55)
  assert.deepEqual(replies.map((reply) => reply.status), [200, 200, 200])
  await call('PATCH', sessionPath('calm'), { body: {} })
  assert.deepEqual(sim.counters().maxConcurrentPatches, { busy: 3, calm: 1 })

  // Sent after a write that waits out a latency longer than the test, a read is answered first.
  sim.setLatency({ op: 'write', ms: 10_000 })
  const write = call('PATCH', sessionPath('calm'), { body: {} }).then(
    () => 'the write',
    () => 'the write, cut short when the simulator closed',
  )
  const read = call('GET', LIST).then(() => 'the read')
  assert.equal(await Promise.race([read, write]), 'the read', 'write latency leaves reads alone')
  sim.setLatency({ op: 'all', ms: 30 })
  const slowRead = performance.now()
  await call('GET', LIST)
  assert.ok(performance.now() - slowRead >= 25)
})

test('the rate limiter answers 503 text once the bucket is empty, and counts it', async (t) => {
  const { sim, call } = await startHarness(t, { rateLimitRps: 2 })
  assert.equal((await call('GET', LIST)).status, 200)
  assert.equal((await call('PATCH', sessionPath(DEMO_SESSION_ID), { body: {} })).status, 200)
  const limited = await call('GET', LIST)
  assert.equal(limited.status, 503)
  assert.equal(limited.text, 'Service Unavailable')
  assert.equal(sim.counters().rateLimited, 1)
  assert.equal((await call('GET', '/__sim/counters')).status, 200, 'controls are never limited')

  sim.setRateLimit(null)
  assert.equal((await call('GET', LIST)).status, 200)
  assert.equal(sim.counters().rateLimited, 1)
})

test('counters key API calls by raw path, log them without the token, and reset', async (t) => {
  const { sim, call } = await startHarness(t, { seed: false })
  sim.createSession({ sessionId: 'abc/def' })
  await call('GET', `${LIST}?sessionToken=abc%2Fdef&count=2`, { headers: { 'x-request-id': 'req-1' } })
  await call('PATCH', `${LIST}/abc%2Fdef`, { body: '{"metadata":{"a":1}}' })
  await call('PATCH', `${LIST}/abc%2Fdef`, { body: 'not json' })
  await call('GET', LIST, { authorization: null })
  await call('GET', '/__sim/counters')

  const counters = sim.counters()
  assert.deepEqual(counters.requests, { [`GET ${LIST}`]: 2, [`PATCH ${LIST}/abc%2Fdef`]: 2 })
  assert.deepEqual(counters.log, [
    {
      method: 'GET',
      url: `${LIST}?sessionToken=abc%2Fdef&count=2`,
      status: 200,
      requestId: 'req-1',
      authorization: true,
    },
    { method: 'PATCH', url: `${LIST}/abc%2Fdef`, status: 200, authorization: true },
    { method: 'PATCH', url: `${LIST}/abc%2Fdef`, status: 400, authorization: true },
    { method: 'GET', url: LIST, status: 401, authorization: false },
  ])
  assert.doesNotMatch(JSON.stringify(counters), new RegExp(sim.token))
  assert.deepEqual(counters.patchBodies, [
    { sessionId: 'abc/def', body: { metadata: { a: 1 } } },
    { sessionId: 'abc/def', body: 'not json' },
  ])

  sim.resetCounters()
  assert.deepEqual(sim.counters(), { requests: {}, log: [], patchBodies: [], maxConcurrentPatches: {}, rateLimited: 0 })
})

test('control endpoints drive the simulator over HTTP', async (t) => {
  const { sim, call } = await startHarness(t, { seed: false })
  const created = await call('POST', '/__sim/sessions', { authorization: null, body: { sessionId: 'x/1', storeId: 4 } })
  assert.equal(created.status, 201)
  assert.equal(created.json().storeId, 4)
  assert.equal((await call('POST', '/__sim/sessions', { authorization: null })).status, 201)

  const fetched = await call('GET', '/__sim/sessions/x%2F1', { authorization: null })
  assert.deepEqual(fetched.json(), sim.getSession('x/1'))
  assert.equal((await call('GET', '/__sim/sessions/none')).status, 404)

  const appended = await call('POST', '/__sim/sessions/x%2F1/events', { body: { eventId: 'e1', metadata: { k: 1 } } })
  assert.deepEqual(appended.json().metadata, { events: [{ eventId: 'e1', metadata: { k: 1 } }] })
  assert.equal((await call('POST', '/__sim/sessions/none/events', { body: {} })).status, 404)
  sim.createSession({ sessionId: 'odd', metadata: { events: {} } })
  assert.equal((await call('POST', '/__sim/sessions/odd/events', { body: {} })).status, 409)

  const fault = { op: 'read', count: 1, kind: 'status', status: 503 }
  assert.equal((await call('POST', '/__sim/faults', { body: fault })).status, 204)
  assert.equal((await call('GET', LIST)).status, 503)
  assert.equal((await call('POST', '/__sim/latency', { body: { op: 'read', ms: 0 } })).status, 204)
  assert.equal((await call('POST', '/__sim/rate-limit', { body: { rps: 1 } })).status, 204)
  assert.equal((await call('GET', LIST)).status, 200)
  assert.equal((await call('GET', LIST)).status, 503)
  assert.equal((await call('POST', '/__sim/rate-limit', { body: { rps: null } })).status, 204)

  const counters = await call('GET', '/__sim/counters')
  assert.equal(counters.json<{ rateLimited: number }>().rateLimited, 1)
  assert.equal((await call('POST', '/__sim/counters/reset')).status, 204)
  assert.deepEqual(sim.counters().requests, {})
})

test('control endpoints answer bad input with a 400 JSON message', async (t) => {
  const { sim, call } = await startHarness(t)
  const bad: Array<[string, unknown]> = [
    ['/__sim/faults', { op: 'read', count: 1, kind: 'status' }],
    ['/__sim/faults', { op: 'read', count: 1, kind: 'ignore-write' }],
    ['/__sim/faults', { op: 'write', count: 0, kind: 'hang' }],
    ['/__sim/latency', { op: 'sometimes', ms: 5 }],
    ['/__sim/rate-limit', { rps: -1 }],
    ['/__sim/sessions', [1, 2]],
    ['/__sim/sessions', '{not json'],
  ]
  for (const [path, body] of bad) {
    const reply = await call('POST', path, { body })
    assert.equal(reply.status, 400, `${path} ${JSON.stringify(body)}`)
    assert.equal(typeof reply.json().message, 'string')
  }
  assert.equal((await call('POST', '/__sim/unknown')).status, 404)
  assert.throws(() => sim.injectFault({ op: 'read', count: 1, kind: 'status' }))
  assert.deepEqual(sim.counters().requests, {}, 'control calls are not counted')
})
