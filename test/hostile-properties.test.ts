import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect } from 'node:net'
import { test } from 'node:test'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import type { RequestLogEntry } from '../src/simulator/counters.ts'
import { CALLER_AUTH, SESSIONS, assertErrorShape, assertUpstreamCallsConfined, callsDuring, listenOnFreePort, rawRequest, snapshotPrototypes, startTestApp } from './helper.ts'

// The promise under test: whatever arrives, the answer is never a 5xx, an error is in AiFi's shape, and a
// rejected request never reached AiFi. Fixed seeds keep every run the same; fast-check prints the counterexample.
const RUNS = { numRuns: 120, seed: 20_240_611, includeErrorInReport: true }

// A proxy answer may only come after asking AiFi when it is about what AiFi holds: the session's existence
// and its current ETag. Every other refusal is decided before any upstream call.
const DECIDED_AFTER_READ = new Set(['E_SESSION_NOT_FOUND', 'E_PRECONDITION_FAILED'])

const METHODS = ['GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'QUERY'] as const
type Method = (typeof METHODS)[number]

function assertHandled(response: LightMyRequestResponse, calls: RequestLogEntry[], method: string, context: string): void {
  const where = `${context} -> ${response.statusCode} ${response.body.slice(0, 300)}`
  assert.ok(response.statusCode < 500, where)
  assertUpstreamCallsConfined(calls, where)
  if (response.statusCode < 400) return
  assert.deepEqual(calls.filter((call) => call.method !== 'GET'), [], `nothing is written after a refusal: ${where}`)
  if (method === 'HEAD') return
  const body = assertErrorShape(response, where)
  assert.equal(body.requestId, response.headers['x-request-id'], where)
  if (!DECIDED_AFTER_READ.has(body.type as string)) assert.deepEqual(calls, [], `refused without asking AiFi: ${where}`)
}

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 40 })

const contentType = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      'application/json',
      'application/merge-patch+json',
      'APPLICATION/JSON',
      'application/json; charset=utf-8',
      'application/json;charset="UTF-8"',
      'application/merge-patch+json; profile=x',
    ),
    weight: 6,
  },
  {
    arbitrary: fc.constantFrom(
      'application/json; charset=latin1',
      'application/json; charset',
      'application/json-patch+json',
      'text/plain',
      'multipart/form-data; boundary=x',
      'application/x-www-form-urlencoded',
      '*/*',
      ';',
      '',
    ),
    weight: 2,
  },
  { arbitrary: printable, weight: 1 },
  { arbitrary: fc.constant(undefined), weight: 1 },
)

// Keys that matter to the proxy, mixed with arbitrary ones.
const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('events', 'metadata', 'suspectedFraud', '__proto__', 'constructor', 'prototype', 'a/b', '~0'))
const jsonText = fc.jsonValue().map((value) => JSON.stringify(value))
const body = fc.oneof(
  { arbitrary: fc.dictionary(key, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5, noNullPrototype: true }).map((metadata) => JSON.stringify({ metadata })), weight: 4 },
  { arbitrary: fc.record({ metadata: fc.jsonValue(), suspectedFraud: fc.jsonValue() }, { requiredKeys: [] }).map((value) => JSON.stringify(value)), weight: 2 },
  { arbitrary: jsonText, weight: 2 },
  { arbitrary: fc.tuple(jsonText, fc.nat()).map(([text, cut]) => text.slice(0, cut % (text.length + 1))), weight: 1 },
  { arbitrary: fc.constantFrom('{"metadata":{"n":1E400}}', '{"metadata":{"a":1},"metadata":{"__proto__":1}}', '{"metadata":{"\\u005f_proto__":1}}'), weight: 1 },
  { arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)), weight: 1 },
  { arbitrary: fc.constant(undefined), weight: 1 },
)

const headerName = fc.oneof(
  fc.constantFrom('authorization', 'content-type', 'if-match', 'idempotency-key', 'x-request-id', 'accept', 'host', 'origin', 'cookie', 'range', 'expect', 'x-forwarded-for'),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
)
// Names whose arbitrary values would only test the injection library's framing, not the app.
const FRAMING_HEADERS = new Set(['content-length', 'transfer-encoding'])
const headers = fc
  .dictionary(headerName, printable, { maxKeys: 5, noNullPrototype: true })
  .map((values) => Object.fromEntries(Object.entries(values).filter(([name]) => !FRAMING_HEADERS.has(name))))

// Session-id material that could escape the path or the query upstream, or confuse the router.
const idPiece = fc.oneof(
  fc.constantFrom('..', '.', '/', '\\', '?', '#', '%00', '%', '%2e', '%2E%2E', '%2F', '&', '=', ';', '+', ' ', '\u0000', '\t', 'ü', '😀', '\u202e', '&count=9', 'sessionToken=x'),
  fc.string({ unit: 'grapheme', maxLength: 4 }),
)
const sessionId = fc.oneof(
  { arbitrary: fc.array(idPiece, { maxLength: 6 }).map((pieces) => pieces.join('')), weight: 4 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 24 }), weight: 2 },
  { arbitrary: fc.integer({ min: 900, max: 4000 }).map((length) => 'a'.repeat(length)), weight: 1 },
  { arbitrary: fc.integer({ min: 200, max: 600 }).map((length) => '😀'.repeat(length)), weight: 1 },
)
// The same id on the request line as a raw client might send it: only what HTTP/1.1 allows on that line.
const rawSessionId = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 30 })

test('PATCH: arbitrary bodies and content types are answered below 500, in shape, and never reach AiFi when refused', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { AIFI_MAX_RPS: '100000' } })
  const known = simulator.seededSessionIds[0]!
  const prototypes = snapshotPrototypes()
  await fc.assert(
    fc.asyncProperty(body, contentType, fc.nat(3), async (payload, type, pick) => {
      const id = pick === 0 ? 'no-such-session' : known
      const before = simulator.getSession(known)
      const [response, calls] = await callsDuring(simulator, () =>
        app.inject({
          method: 'PATCH',
          url: `${SESSIONS}/${id}`,
          headers: { authorization: CALLER_AUTH, ...(type === undefined ? {} : { 'content-type': type }) },
          ...(payload === undefined ? {} : { payload }),
        }),
      )
      assertHandled(response, calls, 'PATCH', `PATCH ${type} ${String(payload)}`)
      if (response.statusCode >= 400) assert.deepEqual(simulator.getSession(known), before, 'a refused patch changes nothing')
    }),
    RUNS,
  )
  assert.equal(snapshotPrototypes(), prototypes)
})

test('every endpoint: arbitrary methods, headers, content types and bodies are answered below 500 and in shape', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { AIFI_MAX_RPS: '100000' } })
  const known = simulator.seededSessionIds[0]!
  const path = fc.oneof(
    fc.constantFrom('/healthz', '/readyz', '/metrics', '/', '/api', SESSIONS, `${SESSIONS}/`, `${SESSIONS}/${known}`, `${SESSIONS}/${known}?dryRun=true`),
    fc.constantFrom('/HEALTHZ', '/healthz/', '/metrics?x=1', '/api/admin/v2/customers', `${SESSIONS}/${known}/events`, `${SESSIONS}/${known}?dryRun`),
    sessionId.map((id) => `${SESSIONS}/${encodeURIComponent(id)}`),
    fc.webPath().map((path) => (path.startsWith('/') ? path : `/${path}`)),
  )
  const authorization = fc.oneof(fc.constant(CALLER_AUTH), fc.constant(CALLER_AUTH), printable, fc.constant(undefined))
  const prototypes = snapshotPrototypes()
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...METHODS), path, headers, authorization, contentType, body, async (method: Method, url, extra, auth, type, payload) => {
      const requestHeaders: Record<string, string> = { ...extra }
      if (auth !== undefined) requestHeaders.authorization = auth
      if (type !== undefined) requestHeaders['content-type'] = type
      const [response, calls] = await callsDuring(simulator, () =>
        app.inject({ method, url, headers: requestHeaders, ...(payload === undefined ? {} : { payload }) }),
      )
      assertHandled(response, calls, method, `${method} ${url} ${JSON.stringify(requestHeaders)} ${String(payload)}`)
    }),
    RUNS,
  )
  assert.equal(snapshotPrototypes(), prototypes)
})

test('session ids: any id reaches AiFi unchanged as one encoded query value, or not at all', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { AIFI_MAX_RPS: '100000' } })
  await fc.assert(
    fc.asyncProperty(sessionId, fc.constantFrom('GET', 'PATCH'), async (id, method) => {
      const encoded = encodeURIComponent(id)
      const [response, calls] = await callsDuring(simulator, () =>
        app.inject({
          method,
          url: `${SESSIONS}/${encoded}`,
          headers: { authorization: CALLER_AUTH, 'content-type': 'application/json' },
          ...(method === 'PATCH' ? { payload: '{"metadata":{"a":1}}' } : {}),
        }),
      )
      const context = `${method} ${JSON.stringify(id)}`
      assertHandled(response, calls, method, context)
      assert.equal(response.statusCode, 404, context)
      assert.equal(response.json().type, 'E_SESSION_NOT_FOUND', context)
      // Dot segments would change the upstream path; ids beyond the router's limit (1024 decoded characters) are no session.
      if (id === '' || id === '.' || id === '..' || id.length > 1024) return assert.deepEqual(calls, [], context)
      assert.equal(calls.length, 1, context)
      assert.equal(new URL(calls[0]!.url, 'http://upstream').searchParams.get('sessionToken'), id, context)
    }),
    RUNS,
  )
})

test('session ids sent raw on the request line, unencoded, are answered below 500 and confined upstream', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { AIFI_MAX_RPS: '100000' } })
  await fc.assert(
    fc.asyncProperty(rawSessionId, fc.constantFrom('GET', 'PATCH'), async (id, method) => {
      const [response, calls] = await callsDuring(simulator, () =>
        app.inject({
          method,
          url: `${SESSIONS}/${id}`,
          headers: { authorization: CALLER_AUTH, 'content-type': 'application/json' },
          ...(method === 'PATCH' ? { payload: '{"metadata":{"a":1}}' } : {}),
        }),
      )
      assertHandled(response, calls, method, `${method} raw ${JSON.stringify(id)}`)
    }),
    RUNS,
  )
})

/**
 * Writes `bytes` and returns everything the server wrote until it closed the connection: at once after a malformed
 * request, after the answer with `Connection: close`, or when the header or request bound cuts an unfinished one.
 * Not half-closed: Node's server drops a request whose client has ended its side before the answer.
 */
async function sendRaw(port: number, bytes: Buffer): Promise<string> {
  const socket = connect(port, '127.0.0.1')
  let text = ''
  socket.setEncoding('latin1')
  socket.on('data', (chunk: string) => (text += chunk))
  // The server may close first, after answering a malformed request.
  socket.on('error', () => {})
  socket.write(bytes)
  await once(socket, 'close')
  return text
}

test('raw bytes on the wire: every answer is below 500 and in shape, nothing reaches AiFi, the server keeps serving', async (t) => {
  // Short header and request bounds, so a request left unfinished is cut off quickly.
  const { app, simulator } = await startTestApp(t, { serverTimeouts: { headersMs: 300, requestMs: 600, keepAliveMs: 300 } })
  const port = await listenOnFreePort(app)
  const id = simulator.seededSessionIds[0]!
  // Unauthorized, so no mutation of it can ever be a legitimate write.
  const template = Buffer.from(
    `PATCH ${SESSIONS}/${id}?dryRun=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer not-a-key\r\n` +
      'Content-Type: application/json\r\nConnection: close\r\nContent-Length: 20\r\n\r\n{"metadata":{"a":1}}',
    'latin1',
  )
  const mutated = fc
    .array(fc.tuple(fc.nat(template.length - 1), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { minLength: 1, maxLength: 4 })
    .map((edits) => {
      const bytes = [...template]
      for (const [at, byte, edit] of edits) {
        const index = at % bytes.length
        if (edit === 'set') bytes[index] = byte
        else if (edit === 'insert') bytes.splice(index, 0, byte)
        else bytes.splice(index, 1)
      }
      return Buffer.from(bytes)
    })
  const bytes = fc.oneof(mutated, fc.uint8Array({ maxLength: 200 }).map((raw) => Buffer.from(raw)), fc.constant(template))
  await fc.assert(
    fc.asyncProperty(bytes, async (raw) => {
      const text = await sendRaw(port, raw)
      const context = JSON.stringify(raw.toString('latin1'))
      for (const [, status] of text.matchAll(/HTTP\/1\.1 (\d{3}) /g)) assert.ok(Number(status) < 500, `${status} for ${context}`)
      const [head = '', ...rest] = text.split('\r\n\r\n')
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1])
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1])
      if (status >= 400 && length > 0) {
        const body = Buffer.from(rest.join('\r\n\r\n'), 'latin1').subarray(0, length).toString('utf8')
        assertErrorShape({ statusCode: status, body, headers: {} }, context)
      }
    }),
    { numRuns: 40, seed: 7, includeErrorInReport: true },
  )
  assert.deepEqual(simulator.counters().log, [])
  assert.equal((await rawRequest(port, 'GET', '/healthz')).status, 200)
})
