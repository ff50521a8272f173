import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { test } from 'node:test'
import { computeEtag } from '../src/merge/index.ts'
import type { Simulator } from '../src/simulator/simulator.ts'
import { CALLER_AUTH, SESSIONS, listenOnFreePort, patchSession, startTestApp } from './helper.ts'
import { assertErrorShape, callsDuring } from './hostile-helper.ts'

const RESOLUTION_MS = 10
const STALL_BUDGET_MS = 50
const ATTEMPTS = 3
const MIB = 1024 * 1024

const EVENTS = [
  { eventId: 'e0a0c2a4-0000-4000-8000-000000000001', metadata: { type: 'ThirdParty', payload: { items: [1, 2] } } },
  { eventId: 'e0a0c2a4-0000-4000-8000-000000000002', metadata: { type: 'Handoff' } },
]

/**
 * The longest the event loop was blocked while `work` ran, in ms. The monitor's timer records the time between
 * its own ticks, so a recorded tick of d ms means a block of at least d - RESOLUTION_MS.
 */
async function longestStallMs(work: () => Promise<unknown>): Promise<number> {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  histogram.enable()
  try {
    await work()
    // Not a wait for the app: the monitor samples on its own timer, and this lets it record a block that ended
    // the work.
    await new Promise((resolve) => setTimeout(resolve, RESOLUTION_MS * 3))
    return histogram.max / 1e6 - RESOLUTION_MS
  } finally {
    histogram.disable()
  }
}

/**
 * `send` runs on a fresh session from `prepare` (made outside the measurement) each time: once to warm up (the
 * first large input compiles cold code paths, which a long-running server pays once), then until one run stays
 * within the budget, at most ATTEMPTS times. One run is not enough on a loaded machine, where another process
 * taking the core stretches a block's wall time; a real stall repeats in every run. The app and the simulator
 * run in this process, so their work counts.
 */
async function assertNoStall(label: string, prepare: () => string, send: (sessionId: string) => Promise<unknown>): Promise<void> {
  await send(prepare())
  const stalls: number[] = []
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const sessionId = prepare()
    const stall = await longestStallMs(() => send(sessionId))
    stalls.push(Math.round(stall))
    if (stall <= STALL_BUDGET_MS) return
  }
  assert.fail(`${label} blocked the event loop for ${stalls.join(', ')} ms, over ${STALL_BUDGET_MS} ms every time`)
}

function freshSession(simulator: Simulator, metadata: Record<string, unknown> = { events: EVENTS }): string {
  return simulator.createSession({ metadata: structuredClone(metadata) }).sessionId!
}

/** A PATCH body of exactly `bytes` UTF-8 bytes: `{"metadata":{"pad":"xxx…"}}`. */
function bodyOfBytes(bytes: number): string {
  const frame = '{"metadata":{"pad":""}}'
  return `{"metadata":{"pad":"${'x'.repeat(bytes - frame.length)}"}}`
}

/** Sends raw HTTP and resolves with everything the server wrote before closing. */
function exchange(port: number, head: string, chunks: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    socket.on('data', (chunk) => (text += chunk))
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' || error.code === 'EPIPE' ? undefined : reject(error)))
    socket.on('close', () => resolve(text))
    socket.write(head)
    for (const chunk of chunks) socket.write(chunk)
  })
}

test('a body of exactly BODY_LIMIT_BYTES is merged; one byte more is 413 and never reaches AiFi', async (t) => {
  const { app, simulator, config } = await startTestApp(t)
  const limit = config.bodyLimitBytes
  for (const contentType of ['application/json', 'application/merge-patch+json']) {
    const id = freshSession(simulator)
    const atLimit = bodyOfBytes(limit)
    assert.equal(Buffer.byteLength(atLimit), limit)
    const accepted = await patchSession(app, id, atLimit, { headers: { 'content-type': contentType } })
    assert.equal(accepted.statusCode, 200, contentType)
    assert.equal((simulator.getSession(id)!.metadata as { pad: string }).pad.length, limit - '{"metadata":{"pad":""}}'.length)

    const before = simulator.getSession(id)
    for (const over of [bodyOfBytes(limit + 1), bodyOfBytes(limit - 1).replace('x', '€')]) {
      // The second is one character short of the limit but one byte over it: the limit counts bytes.
      assert.equal(Buffer.byteLength(over), limit + 1)
      const [refused, calls] = await callsDuring(simulator, () => patchSession(app, id, over, { headers: { 'content-type': contentType } }))
      assert.equal(refused.statusCode, 413, contentType)
      assert.equal(assertErrorShape(refused).type, 'E_PAYLOAD_TOO_LARGE')
      assert.deepEqual(calls, [])
    }
    assert.deepEqual(simulator.getSession(id), before)
  }
  const fresh = () => freshSession(simulator)
  const [atLimit, overLimit] = [bodyOfBytes(limit), bodyOfBytes(limit + 1)]
  await assertNoStall('a body at the limit', fresh, (id) => patchSession(app, id, atLimit))
  await assertNoStall('a body over the limit', fresh, (id) => patchSession(app, id, overLimit))
})

test('over a socket, a chunked body over the limit and a Content-Length over it are 413 without reading it all', async (t) => {
  const { app, simulator, config } = await startTestApp(t, { env: { BODY_LIMIT_BYTES: '1024' } })
  const port = await listenOnFreePort(app)
  const id = simulator.seededSessionIds[0]!
  const head = `PATCH ${SESSIONS}/${id} HTTP/1.1\r\nHost: x\r\nAuthorization: ${CALLER_AUTH}\r\nContent-Type: application/json\r\n`
  const chunk = `{"metadata":{"pad":"${'x'.repeat(600)}`
  const chunked = await exchange(port, `${head}Transfer-Encoding: chunked\r\n\r\n`, [
    `${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`,
    `${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`,
  ])
  assert.match(chunked, /^HTTP\/1\.1 413 /)
  assert.match(chunked, /"type":"E_PAYLOAD_TOO_LARGE"/)
  // The declared length alone decides: the body is never sent, yet the answer comes.
  const declared = await exchange(port, `${head}Content-Length: ${config.bodyLimitBytes + 1}\r\n\r\n`, ['{"meta'])
  assert.match(declared, /^HTTP\/1\.1 413 /)
  assert.equal(simulator.counters().log.length, 0)
})

test('depth: MAX_DEPTH levels are merged, one more is 400 E_INVALID_BODY, and a maximally nested body is a 400', async (t) => {
  const { app, simulator, config } = await startTestApp(t)
  const nest = (levels: number, through: 'object' | 'array'): string => {
    // metadata itself is level 1 (docs/http-api.md#nesting-depth).
    let text = '1'
    for (let level = 1; level < levels; level++) text = through === 'object' ? `{"n":${text}}` : `[${text}]`
    return `{"metadata":{"m":${text}}}`
  }
  for (const through of ['object', 'array'] as const) {
    const id = freshSession(simulator)
    const atLimit = await patchSession(app, id, nest(config.maxDepth, through))
    assert.equal(atLimit.statusCode, 200, through)
    assert.deepEqual((simulator.getSession(id)!.metadata as { m: unknown }).m, JSON.parse(nest(config.maxDepth, through)).metadata.m)

    const [over, calls] = await callsDuring(simulator, () => patchSession(app, id, nest(config.maxDepth + 1, through)))
    assert.equal(over.statusCode, 400, through)
    assert.equal(assertErrorShape(over).type, 'E_INVALID_BODY')
    assert.deepEqual(over.json().errors, [{ field: '/metadata', error: `must nest at most ${config.maxDepth} levels`, rule: 'object.depth' }])
    assert.deepEqual(calls, [])
  }
  // As deep as the body limit allows: far deeper than any recursive walk's stack.
  const levels = Math.floor((config.bodyLimitBytes - 40) / 2)
  for (const body of [`{"metadata":{"m":${'['.repeat(levels)}${']'.repeat(levels)}}}`, `${'['.repeat(levels)}${']'.repeat(levels)}`]) {
    const [deepest, calls] = await callsDuring(simulator, () => patchSession(app, simulator.seededSessionIds[0]!, body))
    assert.equal(deepest.statusCode, 400)
    assert.equal(assertErrorShape(deepest).type, 'E_INVALID_BODY')
    assert.deepEqual(calls, [])
  }
  const fresh = () => freshSession(simulator)
  const [atLimit, overLimit] = [nest(config.maxDepth, 'object'), nest(config.maxDepth + 1, 'array')]
  await assertNoStall('a patch at MAX_DEPTH', fresh, (id) => patchSession(app, id, atLimit))
  await assertNoStall('a patch over MAX_DEPTH', fresh, (id) => patchSession(app, id, overLimit))
})

test('a patch of 10,000 keys is merged exactly, without stalling the event loop', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { AIFI_MAX_RPS: '1000' } })
  const patch = { metadata: Object.fromEntries(Array.from({ length: 10_000 }, (_, index) => [`key-${index}`, index % 2 ? index : { n: index }])) }
  const text = JSON.stringify(patch)
  const id = freshSession(simulator, { events: EVENTS, kept: 'yes', 'key-0': 'replaced' })
  const response = await patchSession(app, id, text)
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['x-merge-result'], 'applied')
  assert.deepEqual(simulator.getSession(id)!.metadata, { events: EVENTS, kept: 'yes', ...patch.metadata })
  await assertNoStall('10,000 keys', () => freshSession(simulator), (fresh) => patchSession(app, fresh, text))
})

test('1 MB strings are merged exactly under a raised BODY_LIMIT_BYTES, without stalling the event loop', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { BODY_LIMIT_BYTES: String(4 * MIB), AIFI_MAX_RPS: '1000' } })
  const strings = {
    ascii: 'a'.repeat(MIB),
    // Multi-byte characters, a surrogate pair and characters JSON must escape.
    mixed: 'é😀"\\\n\u0001z'.repeat(MIB / 16),
  }
  for (const [name, value] of Object.entries(strings)) {
    const text = JSON.stringify({ metadata: { nested: { [name]: value } } })
    assert.ok(Buffer.byteLength(text) > 1_000_000, name)
    const id = freshSession(simulator)
    const response = await patchSession(app, id, text)
    assert.equal(response.statusCode, 200, name)
    const stored = simulator.getSession(id)!.metadata as { nested: Record<string, string>; events: unknown }
    assert.ok(stored.nested[name] === value, `the ${name} string arrives upstream unchanged`)
    assert.deepEqual(stored.events, EVENTS)
    assert.equal(response.headers.etag, computeEtag(stored))
    await assertNoStall(`a 1 MB ${name} string`, () => freshSession(simulator), (fresh) => patchSession(app, fresh, text))
  }
})

test('1 MiB of upstream metadata is read, merged and written back exactly, without stalling the event loop', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { AIFI_MAX_RPS: '1000' } })
  const events = Array.from({ length: 1500 }, (_, index) => ({
    eventId: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
    metadata: { type: index % 2 ? 'ThirdParty' : 'Handoff', note: 'n'.repeat(300) },
  }))
  const current: Record<string, unknown> = { events }
  for (let index = 0; index < 1000; index++) current[`key-${index}`] = { value: 'v'.repeat(500), index }
  assert.ok(Buffer.byteLength(JSON.stringify(current)) >= MIB)
  const patch = { metadata: { tier: 'gold', 'key-0': null, 'key-1': { value: 'changed' } } }
  const expected = structuredClone(current)
  delete expected['key-0']
  expected['key-1'] = { value: 'changed', index: 1 }
  expected.tier = 'gold'

  const id = freshSession(simulator, current)
  const response = await patchSession(app, id, patch)
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['x-merge-result'], 'applied')
  const stored = simulator.getSession(id)!.metadata as Record<string, unknown>
  assert.deepEqual(stored, expected)
  assert.deepEqual(stored.events, events, 'every event is carried over exactly')
  assert.deepEqual(response.json().metadata, expected)
  assert.equal(response.headers.etag, computeEtag(expected))
  const body = JSON.stringify(patch)
  await assertNoStall('1 MiB of upstream metadata', () => freshSession(simulator, current), (fresh) => patchSession(app, fresh, body))
})
