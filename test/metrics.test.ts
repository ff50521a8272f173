import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { CALLER_SECRET, getSession, listenOnFreePort, patchSession, rawRequest, startTestApp } from './helper.ts'

/** Prometheus text format: the samples of one metric, with their labels parsed. */
async function scrape(app: FastifyInstance) {
  const response = await app.inject({ method: 'GET', url: '/metrics' })
  assert.equal(response.statusCode, 200)
  assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/)
  const samples = response.body
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([^{\s]+)(?:\{(.*)\})? (\S+)$/.exec(line)
      assert.ok(match, line)
      const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((pair) => [pair[1], pair[2]]))
      return { name: match[1]!, labels, value: Number(match[3]) }
    })
  /** The value of the one sample with this name and at least these labels; 0 when there is none. */
  const value = (name: string, labels: Record<string, string> = {}) => {
    const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`)
    return found[0]?.value ?? 0
  }
  return { text: response.body, value }
}

test('after known traffic every documented metric holds the expected counts, next to the process metrics', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!

  assert.equal((await patchSession(app, id, { metadata: { tier: 'gold' } })).headers['x-merge-result'], 'applied')
  assert.equal((await patchSession(app, id, { metadata: { tier: 'gold' } })).headers['x-merge-result'], 'noop')
  assert.equal((await patchSession(app, id, { metadata: { tier: 'silver' } }, { query: '?dryRun=true' })).statusCode, 200)
  simulator.injectFault({ op: 'read', kind: 'status', status: 503, count: 1 })
  assert.equal((await getSession(app, id)).statusCode, 200, 'the read is retried after a 503')
  assert.equal((await patchSession(app, id, { metadata: { a: 1 } }, { headers: { authorization: 'Bearer wrong' } })).statusCode, 401)
  simulator.injectFault({ op: 'write', kind: 'ignore-write', count: 1 })
  assert.equal((await patchSession(app, id, { metadata: { lost: true } })).statusCode, 502)

  const { text, value } = await scrape(app)
  assert.equal(value('aifi_proxy_requests_total', { outcome: 'applied' }), 1)
  assert.equal(value('aifi_proxy_requests_total', { outcome: 'noop' }), 1)
  assert.equal(value('aifi_proxy_requests_total', { outcome: 'dry_run' }), 1)
  assert.equal(value('aifi_proxy_requests_total', { outcome: 'read' }), 1)
  assert.equal(value('aifi_proxy_requests_total', { outcome: 'E_UNAUTHORIZED' }), 1)
  assert.equal(value('aifi_proxy_requests_total', { outcome: 'E_UPSTREAM_BAD_RESPONSE' }), 1)

  // Every attempt counts: the 503 and its retry are two reads.
  assert.equal(value('aifi_proxy_upstream_requests_total', { op: 'read', status: '200' }), 5)
  assert.equal(value('aifi_proxy_upstream_requests_total', { op: 'read', status: '503' }), 1)
  assert.equal(value('aifi_proxy_upstream_requests_total', { op: 'write', status: '200' }), 2)
  assert.equal(value('aifi_proxy_upstream_duration_seconds_count', { op: 'read' }), 6)
  assert.equal(value('aifi_proxy_upstream_duration_seconds_count', { op: 'write' }), 2)

  // Three write cycles went through the queue (applied, noop, unconfirmed); the dry run and the read did not.
  assert.equal(value('aifi_proxy_batch_size_count'), 3)
  assert.equal(value('aifi_proxy_batch_size_sum'), 3)
  assert.equal(value('aifi_proxy_lock_wait_seconds_count'), 3)
  assert.equal(value('aifi_proxy_verification_failures_total'), 1)

  assert.ok(value('process_cpu_user_seconds_total') > 0)
  assert.ok(value('nodejs_heap_size_used_bytes') > 0)
  for (const needle of [id, CALLER_SECRET, simulator.token, 'gold']) assert.ok(!text.includes(needle), `the metrics hold ${needle}`)
})

test('batch_size records how many patches each write cycle coalesced', async (t) => {
  const { app, simulator } = await startTestApp(t)
  simulator.setLatency({ op: 'read', ms: 50 })
  const id = simulator.seededSessionIds[0]!
  // The first patch runs alone; the four that arrive during its read wait and go together.
  const responses = await Promise.all(Array.from({ length: 5 }, (_, i) => patchSession(app, id, { metadata: { [`k${i}`]: i } })))
  assert.deepEqual(responses.map((response) => response.statusCode), [200, 200, 200, 200, 200])

  const { value } = await scrape(app)
  assert.equal(value('aifi_proxy_batch_size_count'), 2)
  assert.equal(value('aifi_proxy_batch_size_sum'), 5)
  assert.equal(value('aifi_proxy_batch_size_bucket', { le: '1' }), 1)
  assert.equal(value('aifi_proxy_batch_size_bucket', { le: '4' }), 2)
  assert.equal(value('aifi_proxy_lock_wait_seconds_count'), 5)
  assert.equal(value('aifi_proxy_upstream_requests_total', { op: 'write', status: '200' }), 2)
  assert.equal(value('aifi_proxy_requests_total', { outcome: 'applied' }), 5)
})

test('a write that fails is counted by its status, and its error by type', async (t) => {
  const { app, simulator } = await startTestApp(t, { env: { UPSTREAM_RETRIES: '0' } })
  simulator.injectFault({ op: 'write', kind: 'status', status: 500, count: 1 })
  const response = await patchSession(app, simulator.seededSessionIds[0]!, { metadata: { a: 1 } })
  assert.equal(response.statusCode, 503)

  const { value } = await scrape(app)
  assert.equal(value('aifi_proxy_upstream_requests_total', { op: 'write', status: '500' }), 1)
  assert.equal(value('aifi_proxy_requests_total', { outcome: 'E_UPSTREAM_UNAVAILABLE' }), 1)
})

test('errors answered before routing or by the method check are counted too', async (t) => {
  const { app } = await startTestApp(t)
  const port = await listenOnFreePort(app)
  await rawRequest(port, 'DELETE', '/api/admin/v2/sessions/abc')
  await rawRequest(port, 'GET', '/api/admin/v2/sessions/%E0%A4%A')
  await rawRequest(port, 'GET', '/nowhere')
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  assert.match(metrics, /^aifi_proxy_requests_total\{outcome="E_METHOD_NOT_ALLOWED"\} 1$/m)
  assert.match(metrics, /^aifi_proxy_requests_total\{outcome="E_SESSION_NOT_FOUND"\} 1$/m)
  assert.match(metrics, /^aifi_proxy_requests_total\{outcome="E_NOT_FOUND"\} 1$/m)
})

test('request durations are observed by route pattern and outcome, never by URL or session id', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  assert.equal((await patchSession(app, id, { metadata: { tier: 'gold' } })).headers['x-merge-result'], 'applied')
  assert.equal((await patchSession(app, id, { metadata: { tier: 'gold' } })).headers['x-merge-result'], 'noop')
  assert.equal((await getSession(app, id)).statusCode, 200)
  assert.equal((await getSession(app, 'no-such-session')).statusCode, 404)
  assert.equal((await app.inject(`/made-up/${id}`)).statusCode, 404)
  assert.equal((await app.inject({ method: 'DELETE', url: `/api/admin/v2/sessions/${id}` })).statusCode, 405)
  assert.equal((await app.inject('/healthz')).statusCode, 200)

  const { text, value } = await scrape(app)
  const session = 'PATCH /api/admin/v2/sessions/:sessionId'
  const read = 'GET /api/admin/v2/sessions/:sessionId'
  const count = (route: string, outcome: string) => value('aifi_proxy_request_duration_seconds_count', { route, outcome })
  assert.deepEqual(
    [count(session, 'applied'), count(session, 'noop'), count(read, '2xx'), count(read, '4xx'), count('unmatched', '4xx'), count('GET /healthz', '2xx')],
    [1, 1, 1, 1, 2, 1],
  )
  assert.ok(value('aifi_proxy_request_duration_seconds_sum', { route: session, outcome: 'applied' }) > 0)
  const durationLines = text.split('\n').filter((line) => line.startsWith('aifi_proxy_request_duration_seconds'))
  assert.ok(!durationLines.some((line) => line.includes(id) || line.includes('made-up') || line.includes('no-such')), 'no URL in a label')
  assert.match(text, /# HELP aifi_proxy_redis_errors_total .*\binbox\b/)
})
