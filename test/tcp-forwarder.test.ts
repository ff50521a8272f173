import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect } from 'node:net'
import { test, type TestContext } from 'node:test'
import { createClient } from 'redis'
import { freePort, hasRedisServer, startRedisServer } from './cluster-helper.ts'
import { startTcpForwarder } from './tcp-forwarder.ts'

// The forwarder the fault tests cut one replica's Redis with, pinned against a redis-server of each test's own.

const skip = hasRedisServer ? false : 'redis-server is not installed'
// A forwarder that failed to hold or cut would leave a wait unresolved: fail then, instead of hanging.
const options = { skip, timeout: 10_000 }

/** A node-redis client through `port` that never reconnects by itself, closed with the test. */
async function connectThrough(t: TestContext, port: number) {
  const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: false } })
  client.on('error', () => {})
  t.after(() => (client.isOpen ? client.destroy() : undefined))
  await client.connect()
  return client
}

async function startRedisBehindForwarder(t: TestContext) {
  const redisPort = await freePort()
  await startRedisServer(t, redisPort)
  return startTcpForwarder(t, redisPort)
}

test('forwards a connection to its target: PING is answered', options, async (t) => {
  const forwarder = await startRedisBehindForwarder(t)
  const client = await connectThrough(t, forwarder.port)
  assert.equal(await client.ping(), 'PONG')
  assert.equal(forwarder.connectionCount(), 1)
})

test('a stall holds a PING, with the socket open, until resume() delivers it', options, async (t) => {
  const forwarder = await startRedisBehindForwarder(t)
  const client = await connectThrough(t, forwarder.port)
  forwarder.stall()
  let answered = false
  const pong = client.ping().then((answer) => {
    answered = true
    return answer
  })
  await forwarder.held()
  // Bytes were held, not sent: the PING has no answer and the connection is still there.
  assert.equal(answered, false)
  assert.equal(client.isReady, true)
  assert.equal(forwarder.connectionCount(), 1)
  forwarder.resume()
  assert.equal(await pong, 'PONG')
})

test('a cut fails the PING in flight and closes new connections until restore()', options, async (t) => {
  const forwarder = await startRedisBehindForwarder(t)
  const client = await connectThrough(t, forwarder.port)
  forwarder.stall()
  const pong = client.ping()
  await forwarder.held()
  forwarder.cut()
  await assert.rejects(pong)
  assert.equal(forwarder.connectionCount(), 0)

  // A new connection is accepted and closed at once: no byte from the target ever arrives.
  const raw = connect({ host: '127.0.0.1', port: forwarder.port })
  let received = 0
  raw.on('data', (chunk: Buffer) => (received += chunk.length))
  raw.on('error', () => {})
  raw.write('PING\r\n')
  await once(raw, 'close')
  assert.equal(received, 0)

  forwarder.resume()
  forwarder.restore()
  const again = await connectThrough(t, forwarder.port)
  assert.equal(await again.ping(), 'PONG')
})

test('stall and cut act on the forwarder only: a direct client of the same Redis is not held', options, async (t) => {
  const redisPort = await freePort()
  await startRedisServer(t, redisPort)
  const forwarder = await startTcpForwarder(t, redisPort)
  const through = await connectThrough(t, forwarder.port)
  const direct = await connectThrough(t, redisPort)
  forwarder.stall()
  const held = through.ping()
  await forwarder.held()
  assert.equal(await direct.set('k', 'v'), 'OK')
  forwarder.resume()
  assert.equal(await held, 'PONG')
  assert.equal(await through.get('k'), 'v')
})
