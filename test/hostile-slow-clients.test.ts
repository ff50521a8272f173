import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { test } from 'node:test'
import { DEFAULT_SERVER_TIMEOUTS, type ServerTimeouts } from '../src/http/server-timeouts.ts'
import { CALLER_AUTH, SESSIONS, assertErrorShape, listenOnFreePort, rawRequest, startTestApp } from './helper.ts'

// Short bounds so the tests are fast, far enough apart that a loaded machine cannot mistake one for another.
const TIMEOUTS: ServerTimeouts = { headersMs: 400, requestMs: 1_500, keepAliveMs: 300 }
// Node's keep-alive close comes up to a second after keepAliveTimeout (its keepAliveTimeoutBuffer).
const KEEP_ALIVE_GRACE_MS = 1_000
const DRIP_EVERY_MS = 40

interface SlowClient {
  socket: Socket
  /** Everything the server wrote and when the connection closed, from the first byte sent. */
  closed: Promise<{ text: string; afterMs: number }>
}

/** A client that sends `head` at once, then one byte of `drip` every DRIP_EVERY_MS and never finishes. */
function startSlowClient(port: number, head: string, drip = 'a'.repeat(10_000)): SlowClient {
  const socket = connect(port, '127.0.0.1')
  const started = performance.now()
  let text = ''
  let sent = 0
  socket.write(head)
  const timer = setInterval(() => {
    if (socket.writable && drip !== '') socket.write(drip[sent++ % drip.length]!)
  }, DRIP_EVERY_MS)
  socket.on('data', (chunk) => (text += chunk))
  // The server destroys the socket after its 408, so a late drip may meet a reset: that is the cut-off itself.
  socket.on('error', () => {})
  const closed = once(socket, 'close').then(() => {
    clearInterval(timer)
    return { text, afterMs: performance.now() - started }
  })
  return { socket, closed }
}

/** The 408 the server writes on the raw socket: in AiFi's shape, closing the connection. */
function assertRequestTimeout(text: string): void {
  const [head = '', body = ''] = text.split('\r\n\r\n')
  assert.match(head, /^HTTP\/1\.1 408 /)
  assert.match(head, /\r\nconnection: close/i)
  const contentLength = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1])
  assert.equal(Buffer.byteLength(body), contentLength)
  assert.equal(assertErrorShape({ statusCode: 408, body, headers: {} }).type, 'E_REQUEST_TIMEOUT')
}

test('by default the server enforces the documented bounds, and checks them often enough to cut off on time', async (t) => {
  const { app } = await startTestApp(t)
  assert.deepEqual(DEFAULT_SERVER_TIMEOUTS, { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 72_000 })
  assert.equal(app.server.headersTimeout, 10_000)
  assert.equal(app.server.requestTimeout, 30_000)
  assert.equal(app.server.keepAliveTimeout, 72_000)
  // Node's default sweep (30 s) would let a slow client keep its socket up to 30 s past the 10 s bound.
  const interval = (app.server as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval
  assert.ok(interval <= 1_000, `checked every ${interval} ms`)
})

test('slowloris: clients dripping their headers are cut off with 408 after headersMs, while others are served', async (t) => {
  // A request bound no run of this test reaches, so a cut-off can only be the headers bound's.
  const timeouts = { ...TIMEOUTS, requestMs: 60_000 }
  const { app, simulator } = await startTestApp(t, { serverTimeouts: timeouts })
  const port = await listenOnFreePort(app)
  const id = simulator.seededSessionIds[0]!
  const slow = [
    // Headers that never end, one byte at a time: activity does not extend the bound.
    ...Array.from({ length: 10 }, () => startSlowClient(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: `)),
    ...Array.from({ length: 5 }, () =>
      startSlowClient(port, `PATCH ${SESSIONS}/${id} HTTP/1.1\r\nHost: x\r\nAuthorization: ${CALLER_AUTH}\r\n`, 'X-Pad: 1\r\n'),
    ),
    // A connection that never sends a byte.
    startSlowClient(port, '', ''),
  ]

  // Served meanwhile, on fresh connections, while every slow client still holds its socket.
  const served = await Promise.all([
    rawRequest(port, 'GET', '/healthz'),
    rawRequest(port, 'PATCH', `${SESSIONS}/${id}`, {
      headers: { authorization: CALLER_AUTH, 'content-type': 'application/json' },
      body: '{"metadata":{"servedMeanwhile":true}}',
    }),
  ])
  assert.deepEqual(served.map((response) => response.status), [200, 200])
  assert.ok(slow.every((client) => !client.socket.destroyed), 'the slow clients were still connected')

  for (const client of slow) {
    const { text, afterMs } = await client.closed
    assertRequestTimeout(text)
    assert.ok(afterMs >= timeouts.headersMs - 50, `cut off after ${afterMs} ms, before the bound`)
    assert.ok(afterMs < timeouts.requestMs, `cut off after ${afterMs} ms: by the headers bound, not the request bound`)
  }
  assert.equal(simulator.counters().log.filter((call) => call.method === 'PATCH').length, 1, 'only the served PATCH wrote')
})

test('a client dripping its body is cut off with 408 after requestMs, and nothing reaches AiFi', async (t) => {
  const { app, simulator } = await startTestApp(t, { serverTimeouts: TIMEOUTS })
  const port = await listenOnFreePort(app)
  const head =
    `PATCH ${SESSIONS}/${simulator.seededSessionIds[0]} HTTP/1.1\r\nHost: x\r\nAuthorization: ${CALLER_AUTH}\r\n` +
    'Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"metadata":{"pad":"'
  const client = startSlowClient(port, head, 'x')
  const { text, afterMs } = await client.closed
  assertRequestTimeout(text)
  assert.ok(afterMs >= TIMEOUTS.requestMs - 50, `cut off after ${afterMs} ms, before the bound`)
  assert.ok(afterMs < TIMEOUTS.requestMs + 2_000, `cut off after ${afterMs} ms`)
  assert.deepEqual(simulator.counters().log, [])
  assert.equal((await rawRequest(port, 'GET', '/healthz')).status, 200, 'the server is still serving')
})

test('an idle keep-alive connection is closed after keepAliveMs', async (t) => {
  const { app } = await startTestApp(t, { serverTimeouts: TIMEOUTS })
  const port = await listenOnFreePort(app)
  const socket = connect(port, '127.0.0.1')
  let text = ''
  socket.on('data', (chunk) => (text += chunk))
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
  await once(socket, 'data')
  const answered = performance.now()
  await once(socket, 'close')
  const idleMs = performance.now() - answered
  assert.match(text, /^HTTP\/1\.1 200 /)
  assert.match(text, /\r\nconnection: keep-alive/i)
  assert.ok(idleMs >= TIMEOUTS.keepAliveMs - 50, `closed after ${idleMs} ms idle, before the bound`)
  assert.ok(idleMs < TIMEOUTS.keepAliveMs + KEEP_ALIVE_GRACE_MS + 1_500, `closed after ${idleMs} ms idle`)
})

test('malformed HTTP and oversized headers are answered in the error shape and the connection closed', async (t) => {
  const { app, simulator } = await startTestApp(t, { serverTimeouts: TIMEOUTS })
  const port = await listenOnFreePort(app)
  const cases: Array<[string, number, string]> = [
    ['\x00\x01garbage\r\n\r\n', 400, 'E_INVALID_BODY'],
    ['GET /healthz HTTP/9.9\r\n\r\n', 400, 'E_INVALID_BODY'],
    ['GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n', 400, 'E_INVALID_BODY'],
    [`PATCH ${SESSIONS}/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n`, 400, 'E_INVALID_BODY'],
    [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'E_PAYLOAD_TOO_LARGE'],
  ]
  for (const [request, status, type] of cases) {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    socket.on('data', (chunk) => (text += chunk))
    socket.on('error', () => {})
    socket.write(request)
    await once(socket, 'close')
    const [head = '', body = ''] = text.split('\r\n\r\n')
    assert.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), JSON.stringify(request.slice(0, 60)))
    assert.equal(assertErrorShape({ statusCode: status, body, headers: {} }).type, type)
  }
  assert.deepEqual(simulator.counters().log, [])
})
