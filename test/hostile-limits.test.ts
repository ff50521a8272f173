import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { test } from 'node:test'
import { computeEtag } from '../src/merge/index.ts'
import type { Simulator } from '../src/simulator/simulator.ts'
import { CALLER_AUTH, SESSIONS, assertErrorShape, callsDuring, listenOnFreePort, patchSession, startTestApp } from './helper.ts'

const MIB = 1024 * 1024
/** The full input of a cost check is SCALE times its small one. */
const SCALE = 10
/** Linear work costs about SCALE times more for the full input, quadratic work SCALE² times: the bound lies between. */
const MAX_COST_RATIO = 2 * SCALE
const RUNS = 5

const EVENTS = [
  { eventId: 'e0a0c2a4-0000-4000-8000-000000000001', metadata: { type: 'ThirdParty', payload: { items: [1, 2] } } },
  { eventId: 'e0a0c2a4-0000-4000-8000-000000000002', metadata: { type: 'Handoff' } },
]

type Size = 'small' | 'full'
const SIZES: Size[] = ['small', 'full']

/** CPU time (user and system, every thread of this process) that `work` took, in ms. */
async function cpuMsOf(work: () => Promise<unknown>): Promise<number> {
  const before = process.cpuUsage()
  await work()
  const used = process.cpuUsage(before)
  return (used.user + used.system) / 1000
}

/**
 * Asserts that an input costs about linearly in its size: the full input (SCALE times the small one) may cost
 * at most MAX_COST_RATIO times the small one, measured in the same run. `prepare(size)` sets up one run outside
 * the measurement (a fresh session) and returns the request to measure.
 *
 * The measure is this process's CPU time, which a busy neighbour on the machine barely changes while it
 * stretches wall time; the app and the simulator both run here, so the work of both counts. Each size runs
 * once unmeasured first (a first large input compiles cold code paths, which a long-running server pays once),
 * then RUNS times, alternating, keeping the cheapest: a GC or a lost cache only ever adds. How long these inputs
 * block the event loop depends on the machine, so `npm run bench` reports that figure against its target.
 */
async function assertLinearCost(label: string, prepare: (size: Size) => () => Promise<unknown>): Promise<void> {
  for (const size of SIZES) await prepare(size)()
  const cheapest: Record<Size, number> = { small: Infinity, full: Infinity }
  for (let run = 0; run < RUNS; run++) {
    for (const size of SIZES) cheapest[size] = Math.min(cheapest[size], await cpuMsOf(prepare(size)))
  }
  const ratio = cheapest.full / cheapest.small
  assert.ok(
    ratio <= MAX_COST_RATIO,
    `${label}: ${cheapest.full.toFixed(1)} ms of CPU for the full input against ${cheapest.small.toFixed(1)} ms for one ${SCALE} times ` +
      `smaller, ${ratio.toFixed(1)} times as much: more than linear`,
  )
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
  const { app, simulator, config } = await startTestApp(t, { env: { AIFI_MAX_RPS: '1000' } })
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
  // The same checks on a limit SCALE times lower cost about SCALE times less.
  const smallLimit = Math.floor(limit / SCALE)
  const small = await startTestApp(t, { env: { BODY_LIMIT_BYTES: String(smallLimit), AIFI_MAX_RPS: '1000' } })
  const apps = { small: small.app, full: app }
  const atLimit = { small: bodyOfBytes(smallLimit), full: bodyOfBytes(limit) }
  const overLimit = { small: bodyOfBytes(smallLimit + 1), full: bodyOfBytes(limit + 1) }
  const freshIn = { small: () => freshSession(small.simulator), full: () => freshSession(simulator) }
  await assertLinearCost('a body at the limit', (size) => {
    const id = freshIn[size]()
    return () => patchSession(apps[size], id, atLimit[size])
  })
  await assertLinearCost('a body over the limit', (size) => {
    const id = freshIn[size]()
    return () => patchSession(apps[size], id, overLimit[size])
  })
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
  const { app, simulator, config } = await startTestApp(t, { env: { AIFI_MAX_RPS: '1000' } })
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
  // The same checks on a MAX_DEPTH SCALE times lower cost about SCALE times less.
  const smallDepth = Math.ceil(config.maxDepth / SCALE)
  const small = await startTestApp(t, { env: { MAX_DEPTH: String(smallDepth), AIFI_MAX_RPS: '1000' } })
  const apps = { small: small.app, full: app }
  const atLimit = { small: nest(smallDepth, 'object'), full: nest(config.maxDepth, 'object') }
  const overLimit = { small: nest(smallDepth + 1, 'array'), full: nest(config.maxDepth + 1, 'array') }
  const freshIn = { small: () => freshSession(small.simulator), full: () => freshSession(simulator) }
  await assertLinearCost('a patch at MAX_DEPTH', (size) => {
    const id = freshIn[size]()
    return () => patchSession(apps[size], id, atLimit[size])
  })
  await assertLinearCost('a patch over MAX_DEPTH', (size) => {
    const id = freshIn[size]()
    return () => patchSession(apps[size], id, overLimit[size])
  })
})

test('a patch of 10,000 keys is merged exactly, in time linear in its size', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { AIFI_MAX_RPS: '1000' } })
  const patchOfKeys = (count: number) => ({
    metadata: Object.fromEntries(Array.from({ length: count }, (_, index) => [`key-${index}`, index % 2 ? index : { n: index }])),
  })
  const patch = patchOfKeys(10_000)
  const text = JSON.stringify(patch)
  const id = freshSession(simulator, { events: EVENTS, kept: 'yes', 'key-0': 'replaced' })
  const response = await patchSession(app, id, text)
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['x-merge-result'], 'applied')
  assert.deepEqual(simulator.getSession(id)!.metadata, { events: EVENTS, kept: 'yes', ...patch.metadata })
  const texts = { small: JSON.stringify(patchOfKeys(10_000 / SCALE)), full: text }
  await assertLinearCost('10,000 keys', (size) => {
    const fresh = freshSession(simulator)
    return () => patchSession(app, fresh, texts[size])
  })
})

test('1 MB strings are merged exactly under a raised BODY_LIMIT_BYTES, in time linear in their length', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { BODY_LIMIT_BYTES: String(4 * MIB), AIFI_MAX_RPS: '1000' } })
  /** The strings, their length divided by `divisor`. */
  const stringsOf = (divisor: number) => ({
    ascii: 'a'.repeat(Math.floor(MIB / divisor)),
    // Multi-byte characters, a surrogate pair and characters JSON must escape.
    mixed: 'é😀"\\\n\u0001z'.repeat(Math.floor(MIB / 16 / divisor)),
  })
  const strings = stringsOf(1)
  const smallStrings = stringsOf(SCALE)
  const textOf = (name: string, value: string) => JSON.stringify({ metadata: { nested: { [name]: value } } })
  for (const [name, value] of Object.entries(strings)) {
    const text = textOf(name, value)
    assert.ok(Buffer.byteLength(text) > 1_000_000, name)
    const id = freshSession(simulator)
    const response = await patchSession(app, id, text)
    assert.equal(response.statusCode, 200, name)
    const stored = simulator.getSession(id)!.metadata as { nested: Record<string, string>; events: unknown }
    assert.ok(stored.nested[name] === value, `the ${name} string arrives upstream unchanged`)
    assert.deepEqual(stored.events, EVENTS)
    assert.equal(response.headers.etag, computeEtag(stored))
    const texts = { small: textOf(name, smallStrings[name as keyof typeof smallStrings]), full: text }
    await assertLinearCost(`a 1 MB ${name} string`, (size) => {
      const fresh = freshSession(simulator)
      return () => patchSession(app, fresh, texts[size])
    })
  }
})

test('1 MiB of upstream metadata is read, merged and written back exactly, in time linear in its size', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { AIFI_MAX_RPS: '1000' } })
  /** 1500 events and 1000 keys of about 500 bytes each, both counts divided by `divisor`. */
  const metadataOf = (divisor: number) => {
    const events = Array.from({ length: 1500 / divisor }, (_, index) => ({
      eventId: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
      metadata: { type: index % 2 ? 'ThirdParty' : 'Handoff', note: 'n'.repeat(300) },
    }))
    const metadata: Record<string, unknown> = { events }
    for (let index = 0; index < 1000 / divisor; index++) metadata[`key-${index}`] = { value: 'v'.repeat(500), index }
    return metadata
  }
  const current = metadataOf(1)
  const events = current.events
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
  const metadata = { small: metadataOf(SCALE), full: current }
  await assertLinearCost('1 MiB of upstream metadata', (size) => {
    const fresh = freshSession(simulator, metadata[size])
    return () => patchSession(app, fresh, body)
  })
})
