import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { startSimulator, type Simulator } from '../src/simulator/simulator.ts'
import { CALLER_AUTH, CALLER_SECRET, SESSIONS, rawRequest } from './helper.ts'
import { startServerProcess } from './cluster-helper.ts'
import { callerTrace } from './tracing-helper.ts'

const REPO = fileURLToPath(new URL('..', import.meta.url))
// OTLP's JSON encoding of SpanKind.
const SERVER = 2
const INTERNAL = 1
const CLIENT = 3

interface OtlpValue {
  stringValue?: string
  intValue?: string | number
  arrayValue?: { values: OtlpValue[] }
}
interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  attributes: Array<{ key: string; value: OtlpValue }>
  links?: Array<{ traceId: string; spanId: string }>
  resource: Record<string, string | undefined>
}

const attribute = (span: OtlpSpan, key: string) => {
  const value = span.attributes.find((pair) => pair.key === key)?.value
  return value?.stringValue ?? (value?.intValue === undefined ? undefined : Number(value.intValue))
}

/** A collector stand-in: OTLP/HTTP with JSON bodies on a free port, keeping every span it is sent. */
async function startReceiver(t: TestContext) {
  const spans: OtlpSpan[] = []
  const contentTypes = new Set<string>()
  const waiters: Array<{ done: () => boolean; resolve: () => void }> = []
  const server = createServer((request, response) => {
    let body = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => (body += chunk))
    request.on('end', () => {
      contentTypes.add(`${request.method} ${request.url} ${request.headers['content-type']}`)
      const payload = JSON.parse(body) as {
        resourceSpans: Array<{ resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }>
      }
      for (const { resource, scopeSpans } of payload.resourceSpans) {
        const named = Object.fromEntries(resource.attributes.map((pair) => [pair.key, pair.value.stringValue]))
        for (const scope of scopeSpans) for (const span of scope.spans) spans.push({ ...span, resource: named })
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      for (const waiter of waiters.filter((w) => w.done())) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve()
      }
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => new Promise((resolve) => server.close(resolve)))
  const count = (kind: number) => spans.filter((span) => span.kind === kind).length
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    contentTypes,
    /** Resolves once the receiver holds at least this many spans of each kind. */
    waitFor(expected: { server: number; internal: number; client: number }): Promise<void> {
      const done = () => count(SERVER) >= expected.server && count(INTERNAL) >= expected.internal && count(CLIENT) >= expected.client
      return done() ? Promise.resolve() : new Promise((resolve) => waiters.push({ done, resolve }))
    },
  }
}

async function startTracedProcess(t: TestContext, simulator: Simulator, env: Record<string, string>) {
  return startServerProcess(t, {
    args: ['--import', 'tsx', 'src/server.ts'],
    cwd: REPO,
    env: { AIFI_BASE_URL: simulator.url, AIFI_API_TOKEN: simulator.token, PROXY_API_KEYS: `tester:${CALLER_SECRET}`, AIFI_MAX_RPS: '1000', ...env },
  })
}

function patchOverHttp(port: number, sessionId: string, metadata: Record<string, unknown>, traceparent: string) {
  return rawRequest(port, 'PATCH', `${SESSIONS}/${sessionId}`, {
    headers: { authorization: CALLER_AUTH, 'content-type': 'application/json', traceparent },
    body: JSON.stringify({ metadata }),
  })
}

test('the proxy process exports its spans to an OTLP/HTTP collector as JSON, and carries each trace to AiFi', async (t) => {
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  const receiver = await startReceiver(t)
  const proxy = await startTracedProcess(t, simulator, {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '20',
    OTEL_SERVICE_NAME: 'merge-proxy-under-test',
  })
  simulator.setLatency({ op: 'read', ms: 100 })
  const id = simulator.seededSessionIds[0]!
  const callers = Array.from({ length: 3 }, () => callerTrace())
  // The first patch runs alone; the two sent during its read share the next write.
  const first = patchOverHttp(proxy.port, id, { k0: 0 }, callers[0]!.traceparent)
  // The simulator announces nothing: its log says when the first read has arrived.
  while (simulator.counters().log.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  const answers = await Promise.all([first, ...callers.slice(1).map((caller, i) => patchOverHttp(proxy.port, id, { [`k${i + 1}`]: i }, caller.traceparent))])
  assert.deepEqual(answers.map((answer) => answer.status), [200, 200, 200])

  await receiver.waitFor({ server: 3, internal: 2, client: 4 })
  assert.deepEqual([...receiver.contentTypes], ['POST /v1/traces application/json'])
  assert.ok(receiver.spans.every((span) => span.resource['service.name'] === 'merge-proxy-under-test'))
  const requests = receiver.spans.filter((span) => span.kind === SERVER)
  for (const caller of callers) {
    const request = requests.filter((span) => span.traceId === caller.traceId)
    assert.equal(request.length, 1)
    assert.equal(request[0]!.parentSpanId, caller.spanId)
  }
  const cycles = receiver.spans.filter((span) => span.kind === INTERNAL)
  assert.deepEqual(cycles.map((cycle) => attribute(cycle, 'aifi_proxy.batch_size')).sort(), [1, 2])
  const shared = cycles.find((cycle) => attribute(cycle, 'aifi_proxy.batch_size') === 2)!
  const parent = requests.find((request) => request.spanId === shared.parentSpanId)!
  const linked = requests.find((request) => request.spanId === shared.links?.[0]?.spanId)!
  assert.deepEqual(new Set([parent.traceId, linked.traceId]), new Set([callers[1]!.traceId, callers[2]!.traceId]))
  assert.equal(shared.links?.length, 1)
  assert.equal(shared.traceId, parent.traceId)

  // Every call AiFi received carried the traceparent of its own client span, a child of its cycle.
  const calls = receiver.spans.filter((span) => span.kind === CLIENT)
  for (const entry of simulator.counters().log) {
    const [, traceId, spanId] = entry.traceparent!.split('-')
    const call = calls.find((span) => span.spanId === spanId)!
    assert.equal(call.traceId, traceId)
    assert.equal(call.name.split(' ')[0], entry.method)
    assert.ok(cycles.some((cycle) => cycle.spanId === call.parentSpanId && cycle.traceId === traceId))
  }
})

test('spans still buffered at SIGTERM reach the collector before the process exits', async (t) => {
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  const receiver = await startReceiver(t)
  // Far longer than the test: only the shutdown can export them.
  const proxy = await startTracedProcess(t, simulator, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`, OTEL_BSP_SCHEDULE_DELAY: '600000' })
  const caller = callerTrace()
  assert.equal((await patchOverHttp(proxy.port, simulator.seededSessionIds[0]!, { a: 1 }, caller.traceparent)).status, 200)
  assert.equal(receiver.spans.length, 0)
  proxy.kill('SIGTERM')
  assert.equal(await proxy.exited, 0)
  assert.deepEqual(receiver.spans.map((span) => span.kind).sort(), [INTERNAL, SERVER, CLIENT, CLIENT].sort())
  assert.ok(receiver.spans.every((span) => span.traceId === caller.traceId))
})

test('with no OTEL_* variable set the process never loads the OpenTelemetry SDK, and AiFi gets no traceparent', async (t) => {
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  // prom-client loads @opentelemetry/api for its exemplars whatever the proxy does: only the SDK side counts.
  const report = `import { createRequire } from 'node:module'
    const cache = createRequire(process.cwd() + '/').cache
    process.on('exit', () => {
      const modules = Object.keys(cache).filter((path) => /@opentelemetry[\\\\/](?!api[\\\\/])|@fastify[\\\\/]otel/.test(path))
      process.stdout.write(JSON.stringify({ msg: 'loaded modules', modules }) + '\\n')
    })`
  const proxy = await startServerProcess(t, {
    args: ['--import', 'tsx', '--import', `data:text/javascript,${encodeURIComponent(report)}`, 'src/server.ts'],
    cwd: REPO,
    env: { AIFI_BASE_URL: simulator.url, AIFI_API_TOKEN: simulator.token, PROXY_API_KEYS: `tester:${CALLER_SECRET}` },
  })
  assert.equal((await patchOverHttp(proxy.port, simulator.seededSessionIds[0]!, { a: 1 }, callerTrace().traceparent)).status, 200)
  proxy.kill('SIGTERM')
  const loaded = await proxy.waitForLog((entry) => entry.msg === 'loaded modules')
  assert.deepEqual(loaded.modules, [])
  assert.equal(await proxy.exited, 0)
  assert.ok(simulator.counters().log.every((entry) => entry.traceparent === undefined))
})
