import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { startSimulator } from '../src/simulator/simulator.ts'
import { CALLER_AUTH, CALLER_SECRET, SESSIONS, rawRequest } from './helper.ts'
import { freePort, startServerProcess } from './cluster-helper.ts'

const REPO = fileURLToPath(new URL('..', import.meta.url))

async function startTracedProxy(t: TestContext, env: Record<string, string>) {
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  const proxy = await startServerProcess(t, {
    args: ['--import', 'tsx', 'src/server.ts'],
    cwd: REPO,
    env: { AIFI_BASE_URL: simulator.url, AIFI_API_TOKEN: simulator.token, PROXY_API_KEYS: `tester:${CALLER_SECRET}`, ...env },
  })
  const patch = (metadata: Record<string, unknown>) =>
    rawRequest(proxy.port, 'PATCH', `${SESSIONS}/${simulator.seededSessionIds[0]!}`, {
      headers: { authorization: CALLER_AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ metadata }),
    })
  return { proxy, patch }
}

// A line that never comes fails the test at its timeout instead of holding the suite.
const otelLines = (logs: Array<Record<string, unknown>>) => logs.filter((entry) => entry.component === 'opentelemetry')

test('tracing says at start-up where it exports, and once, without a stack, that spans are dropped while the collector is down', { timeout: 30_000 }, async (t) => {
  const closed = await freePort()
  const { proxy, patch } = await startTracedProxy(t, {
    // Credentials in the endpoint never reach a log line.
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://user:collector-secret@127.0.0.1:${closed}`,
    OTEL_BSP_SCHEDULE_DELAY: '20',
    OTEL_EXPORTER_OTLP_TIMEOUT: '300',
  })
  const endpoint = `http://127.0.0.1:${closed}/v1/traces`
  const started = await proxy.waitForLog((entry) => String(entry.msg).startsWith('tracing on'))
  assert.equal(started.level, 30)
  assert.equal(started.endpoint, endpoint)
  assert.equal(started.msg, `tracing on: spans are exported to OTLP/HTTP to ${endpoint}`)

  assert.equal((await patch({ a: 1 })).status, 200)
  const dropped = await proxy.waitForLog((entry) => String(entry.msg).startsWith('trace export failed'))
  assert.equal(dropped.level, 40)
  assert.equal(dropped.endpoint, endpoint)
  assert.match(String(dropped.reason), /ECONNREFUSED/)
  // A second batch fails too, and is not said again.
  assert.equal((await patch({ a: 2 })).status, 200)
  proxy.kill('SIGTERM')
  assert.equal(await proxy.exited, 0)

  const lines = otelLines(proxy.logs)
  assert.equal(lines.filter((entry) => String(entry.msg).startsWith('trace export failed')).length, 1)
  for (const entry of lines) {
    const text = JSON.stringify(entry)
    assert.ok(!text.includes('collector-secret') && !/\bat \S+ \(|"stack"/.test(text), text)
  }
})

test('at SIGTERM, a collector that does not answer holds the exit for about a second, not for its timeouts', { timeout: 30_000 }, async (t) => {
  const requests: IncomingMessage[] = []
  // Accepts every export and never answers.
  const silent = createServer((request) => requests.push(request)).listen(0, '127.0.0.1')
  await once(silent, 'listening')
  t.after(() => {
    silent.closeAllConnections()
    silent.close()
  })
  const { proxy, patch } = await startTracedProxy(t, {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
    // Only the shutdown exports, and the exporter would wait its 10 s default for an answer.
    OTEL_BSP_SCHEDULE_DELAY: '600000',
  })
  assert.equal((await patch({ a: 1 })).status, 200)
  proxy.kill('SIGTERM')
  assert.equal(await proxy.exited, 0)

  assert.ok(requests.length >= 1, 'the final flush was attempted')
  const draining = proxy.logs.find((entry) => entry.msg === 'shutting down: draining')!
  const closed = proxy.logs.find((entry) => entry.msg === 'drained and closed')!
  const gaveUp = otelLines(proxy.logs).find((entry) => String(entry.msg).startsWith('spans not exported at shutdown were dropped'))
  assert.equal(gaveUp?.waitedMs, 1000)
  // Generous: the bound is 1 s; without it the exit waits for the exporter's 10 s timeout.
  assert.ok((closed.time as number) - (draining.time as number) < 3_000, `${(closed.time as number) - (draining.time as number)} ms`)
})
