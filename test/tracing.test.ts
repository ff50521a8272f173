import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SpanStatusCode } from '@opentelemetry/api'
import { getSession, patchSession, startTestApp } from './helper.ts'
import { callerTrace, idOf, isCycleSpan, isRequestSpan, isUpstreamSpan, parentOf, startTracedApp } from './tracing-helper.ts'

test("a PATCH continues the caller's trace: its request span, the cycle span, and AiFi calls whose traceparent AiFi sees", async (t) => {
  const { app, simulator, spans } = await startTracedApp(t)
  const id = simulator.seededSessionIds[0]!
  const caller = callerTrace()
  const response = await patchSession(app, id, { metadata: { tier: 'gold' } }, { headers: { traceparent: caller.traceparent } })
  assert.equal(response.statusCode, 200)

  const [request, ...otherRequests] = spans().filter(isRequestSpan)
  assert.deepEqual(otherRequests, [])
  assert.equal(request!.name, 'PATCH /api/admin/v2/sessions/:sessionId')
  assert.equal(request!.spanContext().traceId, caller.traceId)
  assert.equal(parentOf(request!), caller.spanId)
  assert.equal(request!.attributes['aifi_proxy.request_id'], response.headers['x-request-id'])
  assert.equal(request!.attributes['http.response.status_code'], 200)

  const [cycle, ...otherCycles] = spans().filter(isCycleSpan)
  assert.deepEqual(otherCycles, [])
  assert.equal(cycle!.spanContext().traceId, caller.traceId)
  assert.equal(parentOf(cycle!), idOf(request!))
  assert.deepEqual(cycle!.links, [])
  assert.equal(cycle!.attributes['aifi_proxy.session_id'], id)
  assert.equal(cycle!.attributes['aifi_proxy.request_id'], response.headers['x-request-id'])
  assert.equal(cycle!.attributes['aifi_proxy.batch_size'], 1)
  assert.equal(cycle!.attributes['aifi_proxy.outcome'], 'applied')
  assert.equal(typeof cycle!.attributes['aifi_proxy.turn_wait_ms'], 'number')
  assert.equal(typeof cycle!.attributes['aifi_proxy.quota_wait_ms'], 'number')
  assert.equal(cycle!.attributes['aifi_proxy.flow'], 'tester', 'the flow whose share of the quota the cycle waited in')

  const calls = spans().filter(isUpstreamSpan)
  assert.deepEqual(calls.map((call) => call.name), ['GET /api/admin/v2/sessions', 'PATCH /api/admin/v2/sessions/{sessionId}'])
  for (const call of calls) {
    assert.equal(call.spanContext().traceId, caller.traceId)
    assert.equal(parentOf(call), idOf(cycle!))
    assert.equal(call.attributes['http.response.status_code'], 200)
  }
  const seen = simulator.counters().log.map((entry) => `${entry.method} ${entry.traceparent}`)
  assert.deepEqual(seen, [`GET 00-${caller.traceId}-${idOf(calls[0]!)}-01`, `PATCH 00-${caller.traceId}-${idOf(calls[1]!)}-01`])
})

test("a coalesced write's cycle span is a child of its first patch's request span and links every other request", async (t) => {
  const { app, simulator, spans } = await startTracedApp(t)
  simulator.setLatency({ op: 'read', ms: 50 })
  const id = simulator.seededSessionIds[0]!
  const callers = Array.from({ length: 5 }, () => callerTrace())
  // The first patch runs alone; the four that arrive during its read wait and go together.
  const responses = await Promise.all(
    callers.map((caller, i) => patchSession(app, id, { metadata: { [`k${i}`]: i } }, { headers: { traceparent: caller.traceparent } })),
  )
  assert.deepEqual(responses.map((response) => response.statusCode), [200, 200, 200, 200, 200])

  const requests = spans().filter(isRequestSpan)
  assert.equal(requests.length, 5)
  const cycles = spans().filter(isCycleSpan)
  assert.deepEqual(cycles.map((cycle) => cycle.attributes['aifi_proxy.batch_size']).sort(), [1, 4])
  const served = cycles.flatMap((cycle) => [parentOf(cycle), ...cycle.links.map((link) => link.context.spanId)])
  assert.deepEqual(served.sort(), requests.map(idOf).sort(), 'every request is served by one cycle, as its parent or a link')

  const batch = cycles.find((cycle) => cycle.attributes['aifi_proxy.batch_size'] === 4)!
  assert.equal(batch.links.length, 3)
  const first = requests.find((request) => idOf(request) === parentOf(batch))!
  assert.equal(batch.spanContext().traceId, first.spanContext().traceId)
  assert.equal(batch.attributes['aifi_proxy.request_id'], first.attributes['aifi_proxy.request_id'])
  for (const link of batch.links) {
    const linked = requests.find((request) => idOf(request) === link.context.spanId)!
    assert.equal(link.context.traceId, linked.spanContext().traceId)
    assert.equal(link.attributes?.['aifi_proxy.request_id'], linked.attributes['aifi_proxy.request_id'])
  }

  // AiFi sees the first caller's trace, next to the first caller's request id.
  const write = spans().find((span) => isUpstreamSpan(span) && parentOf(span) === idOf(batch) && span.name.startsWith('PATCH'))!
  const entry = simulator.counters().log.find((logged) => logged.traceparent === `00-${first.spanContext().traceId}-${idOf(write)}-01`)
  assert.equal(entry?.method, 'PATCH')
  assert.equal(entry?.requestId, first.attributes['aifi_proxy.request_id'])
})

test('a GET and a dry run read AiFi under their own request span, with no cycle', async (t) => {
  const { app, simulator, spans } = await startTracedApp(t)
  const id = simulator.seededSessionIds[0]!
  const read = callerTrace()
  const preview = callerTrace()
  assert.equal((await getSession(app, id, { traceparent: read.traceparent })).statusCode, 200)
  const dryRun = await patchSession(app, id, { metadata: { a: 1 } }, { query: '?dryRun=true', headers: { traceparent: preview.traceparent } })
  assert.equal(dryRun.headers['x-merge-result'], 'dry-run')

  assert.deepEqual(spans().filter(isCycleSpan), [])
  for (const caller of [read, preview]) {
    const request = spans().find((span) => isRequestSpan(span) && span.spanContext().traceId === caller.traceId)!
    const calls = spans().filter((span) => isUpstreamSpan(span) && span.spanContext().traceId === caller.traceId)
    assert.deepEqual(calls.map(parentOf), [idOf(request)])
    assert.ok(simulator.counters().log.some((entry) => entry.traceparent === `00-${caller.traceId}-${idOf(calls[0]!)}-01`))
  }
  // The query string is the caller's: it is not recorded.
  const dryRunSpan = spans().find((span) => isRequestSpan(span) && span.spanContext().traceId === preview.traceId)!
  assert.equal(dryRunSpan.attributes['url.path'], `/api/admin/v2/sessions/${id}`)
})

test('without a traceparent a request starts a trace of its own, which still reaches AiFi', async (t) => {
  const { app, simulator, spans } = await startTracedApp(t)
  assert.equal((await patchSession(app, simulator.seededSessionIds[0]!, { metadata: { fresh: true } })).statusCode, 200)
  const [request] = spans().filter(isRequestSpan)
  assert.equal(request!.parentSpanContext, undefined)
  const { traceId } = request!.spanContext()
  assert.ok(simulator.counters().log.every((entry) => entry.traceparent?.startsWith(`00-${traceId}-`)))
})

test('a failed cycle says so: its outcome, the error types and an error status on the call that failed', async (t) => {
  const { app, simulator, spans } = await startTracedApp(t, { env: { UPSTREAM_RETRIES: '0' } })
  simulator.injectFault({ op: 'write', kind: 'status', status: 500, count: 1 })
  assert.equal((await patchSession(app, simulator.seededSessionIds[0]!, { metadata: { a: 1 } })).statusCode, 503)
  const [cycle] = spans().filter(isCycleSpan)
  assert.equal(cycle!.attributes['aifi_proxy.outcome'], 'failed')
  assert.deepEqual(cycle!.attributes['aifi_proxy.error_types'], ['E_UPSTREAM_UNAVAILABLE'])
  assert.equal(cycle!.status.code, SpanStatusCode.ERROR)
  const write = spans().find((span) => isUpstreamSpan(span) && span.name.startsWith('PATCH'))!
  assert.equal(write.attributes['http.response.status_code'], 500)
  assert.equal(write.attributes['error.type'], '500')
  assert.equal(spans().find(isRequestSpan)!.attributes['http.response.status_code'], 503)
})

test('probes, scrapes and docs make no spans', async (t) => {
  const { app, spans } = await startTracedApp(t)
  for (const url of ['/healthz', '/readyz', '/metrics', '/openapi.json']) assert.equal((await app.inject(url)).statusCode, 200)
  assert.deepEqual(spans(), [])
})

test('with tracing off no traceparent reaches AiFi, whatever the caller sent', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const caller = callerTrace()
  assert.equal((await patchSession(app, simulator.seededSessionIds[0]!, { metadata: { a: 1 } }, { headers: { traceparent: caller.traceparent } })).statusCode, 200)
  assert.equal(simulator.counters().log.length, 2)
  assert.ok(simulator.counters().log.every((entry) => entry.traceparent === undefined))
})
