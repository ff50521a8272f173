import assert from 'node:assert/strict'
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { JsonObject } from '../src/schemas.ts'
import { startSimulator, type Simulator } from '../src/simulator/simulator.ts'
import { CALLER_AUTH, CALLER_SECRET, SESSIONS, getSession, patchSession, rawRequest, startTestApp, until, upstreamCalls } from './helper.ts'
import { connectionRefused, startServerProcess } from './cluster-helper.ts'

const REPO = fileURLToPath(new URL('..', import.meta.url))

interface Gate {
  url: string
  /** Resolves once `count` calls are held. */
  holding(count: number): Promise<void>
  /** Lets every held call through, and every later one. */
  release(): void
}

/**
 * An HTTP hop in front of the simulator that holds every call of one method until the test releases it. The
 * simulator announces nothing, so this is where a test learns that calls are in flight; and since the test
 * decides when they go on, no latency has to outlast the test's own steps on a slow machine.
 */
async function startGate(t: TestContext, simulator: Simulator, method: 'GET' | 'PATCH'): Promise<Gate> {
  const held: Array<() => void> = []
  const waiters: Array<{ count: number; resolve: () => void }> = []
  let open = false
  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const upstream = httpRequest(`${simulator.url}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  }
  const server = createServer((req, res) => {
    if (open || req.method !== method) return forward(req, res)
    held.push(() => forward(req, res))
    for (const waiter of waiters.filter((w) => held.length >= w.count)) {
      waiters.splice(waiters.indexOf(waiter), 1)
      waiter.resolve()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => {
    const closed = new Promise((resolve) => server.close(resolve))
    server.closeAllConnections()
    return closed
  })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    holding: (count) => (held.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve }))),
    release() {
      open = true
      for (const go of held.splice(0)) go()
    },
  }
}

/** The simulator as the proxy should see it: through `gate`, so that the gate sees every call first. */
function behind(gate: Gate, simulator: Simulator): Simulator {
  return { ...simulator, url: gate.url }
}

function patchOverHttp(port: number, sessionId: string, metadata: JsonObject) {
  return rawRequest(port, 'PATCH', `${SESSIONS}/${sessionId}`, {
    headers: { authorization: CALLER_AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ metadata }),
  })
}

async function startProxyProcess(t: TestContext, simulator: Simulator, graceMs: number, delayMs = 0) {
  return startServerProcess(t, {
    args: ['--import', 'tsx', 'src/server.ts'],
    cwd: REPO,
    env: {
      AIFI_BASE_URL: simulator.url,
      AIFI_API_TOKEN: simulator.token,
      PROXY_API_KEYS: `tester:${CALLER_SECRET}`,
      AIFI_MAX_RPS: '1000',
      SHUTDOWN_GRACE_MS: String(graceMs),
      ...(delayMs > 0 ? { SHUTDOWN_DELAY_MS: String(delayMs) } : {}),
    },
  })
}

test('while draining, /readyz is 503 and new API requests get 503 E_SHUTTING_DOWN; in-flight merges finish', async (t) => {
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  const gate = await startGate(t, simulator, 'PATCH')
  const { app } = await startTestApp(t, { simulator: behind(gate, simulator) })
  const id = simulator.seededSessionIds[0]!
  assert.equal((await app.inject('/readyz')).statusCode, 200)

  const inFlight = patchSession(app, id, { metadata: { kept: true } })
  // The merge's write is on its way to AiFi, held until the checks below are done.
  await gate.holding(1)
  const closing = app.gracefulClose()

  const readiness = await app.inject('/readyz')
  assert.equal(readiness.statusCode, 503)
  assert.deepEqual(readiness.json(), { status: 'unavailable', draining: true, lock: 'ok' })
  assert.equal((await app.inject('/healthz')).statusCode, 200, 'alive while draining')
  for (const refused of [await patchSession(app, id, { metadata: { late: true } }), await getSession(app, id)]) {
    assert.equal(refused.statusCode, 503)
    assert.equal(refused.json().type, 'E_SHUTTING_DOWN')
    assert.equal(refused.json().requestId, refused.headers['x-request-id'])
    assert.equal(refused.headers['retry-after'], '1')
    assert.equal(refused.headers.connection, 'close')
  }

  gate.release()
  assert.equal((await inFlight).statusCode, 200)
  assert.equal(await closing, true, 'drained within the grace period')
  assert.equal((simulator.getSession(id)!.metadata as JsonObject).kept, true)
  assert.equal((simulator.getSession(id)!.metadata as JsonObject).late, undefined)
  assert.equal(upstreamCalls(simulator, 'PATCH'), 1)
})

test('gracefulClose answers false once SHUTDOWN_GRACE_MS runs out with work still in flight', async (t) => {
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  // Never released: the write never gets an answer.
  const gate = await startGate(t, simulator, 'PATCH')
  const env = { SHUTDOWN_GRACE_MS: '50', UPSTREAM_TIMEOUT_MS: '400', UPSTREAM_RETRIES: '0' }
  const { app } = await startTestApp(t, { simulator: behind(gate, simulator), env })
  const hung = patchSession(app, simulator.seededSessionIds[0]!, { metadata: { a: 1 } })
  await gate.holding(1)
  assert.equal(await app.gracefulClose(), false)
  assert.equal((await hung).statusCode, 504, 'the hung write still ends, by its own timeout')
})

test('SIGTERM with 20 merges in flight: each finishes with 2xx, new requests get 503, the process exits 0', async (t) => {
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  const ids = Array.from({ length: 20 }, () => simulator.createSession({ metadata: { events: [{ eventId: 'e1' }] } }).sessionId!)
  const gate = await startGate(t, simulator, 'GET')
  const server = await startProxyProcess(t, behind(gate, simulator), 10_000)

  const merges = ids.map((id, i) => patchOverHttp(server.port, id, { n: i }))
  // Every cycle has started its read, held until the checks below are done, and none has written: SIGTERM
  // lands between reads and writes.
  await gate.holding(ids.length)
  assert.equal(upstreamCalls(simulator, 'PATCH'), 0)
  server.kill('SIGTERM')
  await server.waitForLog((entry) => entry.msg === 'shutting down: draining')

  const refused = await patchOverHttp(server.port, ids[0]!, { late: true })
  assert.equal(refused.status, 503)
  assert.equal(JSON.parse(refused.body).type, 'E_SHUTTING_DOWN')
  assert.equal(refused.headers['retry-after'], '1')
  assert.equal(refused.headers.connection, 'close')
  assert.equal((await rawRequest(server.port, 'GET', '/readyz')).status, 503)
  assert.equal((await rawRequest(server.port, 'GET', '/healthz')).status, 200)

  gate.release()
  const answers = await Promise.all(merges)
  assert.deepEqual(answers.map((answer) => answer.status), Array(ids.length).fill(200))
  // Exit code 0 and this line come only from a drain that finished within SHUTDOWN_GRACE_MS.
  assert.equal(await server.exited, 0)
  // A refusal while draining is the proxy doing its job: logged like a 4xx, at info, without a stack.
  const refusal = server.logs.find((entry) => entry.requestId === refused.headers['x-request-id'] && entry.msg === 'request refused')
  assert.deepEqual([refusal?.level, refusal?.type, refusal?.err], [30, 'E_SHUTTING_DOWN', undefined])
  assert.deepEqual(server.logs.filter((entry) => Number(entry.level) >= 50), [], 'nothing was logged as an error')
  assert.ok(server.logs.some((entry) => entry.msg === 'drained and closed'))
  ids.forEach((id, i) => assert.deepEqual(simulator.getSession(id)!.metadata, { events: [{ eventId: 'e1' }], n: i }, id))
  assert.equal(upstreamCalls(simulator, 'PATCH'), ids.length)
})

test('SIGTERM with a write that never ends: the process exits 1 once SHUTDOWN_GRACE_MS runs out', async (t) => {
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  // Never released: the write never gets an answer.
  const gate = await startGate(t, simulator, 'PATCH')
  const graceMs = 300
  const server = await startProxyProcess(t, behind(gate, simulator), graceMs)

  const hung = patchOverHttp(server.port, simulator.seededSessionIds[0]!, { a: 1 }).catch((error: Error) => error)
  await gate.holding(1)
  const signalledAt = performance.now()
  server.kill('SIGTERM')
  assert.equal(await server.exited, 1)
  assert.ok(performance.now() - signalledAt >= graceMs - 50, 'it waited for the grace period')
  assert.ok(server.logs.some((entry) => entry.msg === 'SHUTDOWN_GRACE_MS ran out before the drain finished'))
  assert.ok((await hung) instanceof Error, 'the unanswered caller sees the connection end')
})

test('SHUTDOWN_DELAY_MS: after SIGTERM /readyz is 503 while API requests are still served, then the drain closes the listener', async (t) => {
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  const delayMs = 1000
  const server = await startProxyProcess(t, simulator, 10_000, delayMs)
  const id = simulator.seededSessionIds[0]!

  // Nothing in flight: without the delay the listener would close at once and a balancer would see refusals.
  server.kill('SIGTERM')
  const signalled = await server.waitForLog((entry) => entry.msg === 'shutting down: /readyz answers 503')
  const readiness = await rawRequest(server.port, 'GET', '/readyz')
  assert.equal(readiness.status, 503)
  assert.equal(JSON.parse(readiness.body).draining, true)
  const served = await patchOverHttp(server.port, id, { servedWhileLeaving: true })
  assert.equal(served.status, 200)
  assert.equal(served.headers['x-merge-result'], 'applied')
  assert.ok(!server.logs.some((entry) => entry.msg === 'shutting down: draining'), 'served before the drain began')

  const draining = await server.waitForLog((entry) => entry.msg === 'shutting down: draining')
  assert.ok(Number(draining.time) - Number(signalled.time) >= delayMs, 'the drain began SHUTDOWN_DELAY_MS after the signal')
  assert.equal(await server.exited, 0)
  assert.equal(await connectionRefused(server.port), true, 'the listener is closed')
  assert.equal((simulator.getSession(id)!.metadata as JsonObject).servedWhileLeaving, true)
})

test('a second signal after the first has been handled ends the drain at once: the operator way out', async (t) => {
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  // The delay puts the drain's start more than half a second after the first signal: by then a signal is not a
  // repeat of the first one (see the npm start tests), but the operator's.
  const server = await startProxyProcess(t, simulator, 10_000, 600)
  simulator.injectFault({ op: 'write', kind: 'hang', count: 1 })
  const hung = patchOverHttp(server.port, simulator.seededSessionIds[0]!, { a: 1 }).catch((error: Error) => error)
  await until(() => upstreamCalls(simulator, 'PATCH') === 1)

  server.kill('SIGTERM')
  await server.waitForLog((entry) => entry.msg === 'shutting down: draining')
  server.kill('SIGTERM')
  assert.equal(await server.exited, 143, '128 + SIGTERM, as a shell reports it')
  assert.ok(server.logs.some((entry) => entry.msg === 'second signal: exiting without finishing the drain'))
  assert.ok(!server.logs.some((entry) => entry.msg === 'SHUTDOWN_GRACE_MS ran out before the drain finished'), 'it did not wait for the grace period')
  assert.ok((await hung) instanceof Error)
})
