import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../src/config.ts'
import { describeStartup } from '../src/startup-line.ts'
import { startSimulator } from '../src/simulator/simulator.ts'
import { CALLER_SECRET } from './helper.ts'
import { startServerProcess } from './cluster-helper.ts'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const AIFI = 'https://user:aifi-pass@oasis-api.example/base?x=1'

test('the start-up line names the mode, the upstream, Redis and tracing, with no credential anywhere', () => {
  const service = loadConfig({
    AIFI_BASE_URL: AIFI,
    AIFI_API_TOKEN: 'tok',
    PROXY_API_KEYS: 'a:b',
    REDIS_URL: 'rediss://default:redis-pass@redis.internal:6380/2',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:otel-pass@collector:4318',
    OTEL_TRACES_EXPORTER: 'otlp,console',
  })
  const line = describeStartup(service, { auth: { mode: 'service', callerKeys: [], upstreamToken: 'tok' }, baseUrl: AIFI })
  assert.deepEqual(line.fields, {
    mode: 'service',
    upstream: 'https://oasis-api.example',
    redis: 'on (redis.internal:6380)',
    tracing: 'on (http://collector:4318/v1/traces, the console)',
  })
  assert.equal(
    line.message,
    'aifi-merge-proxy started: service mode, upstream https://oasis-api.example, Redis on (redis.internal:6380), ' +
      'tracing on (http://collector:4318/v1/traces, the console)',
  )
  assert.doesNotMatch(JSON.stringify(line), /pass|user|tok\b/)

  const forward = describeStartup(loadConfig({ AIFI_BASE_URL: AIFI }), { auth: { mode: 'forward' }, baseUrl: AIFI })
  assert.deepEqual(forward.fields, { mode: 'forward', upstream: 'https://oasis-api.example', redis: 'off', tracing: 'off' })
  const demo = describeStartup(loadConfig({}), {
    auth: { mode: 'service', callerKeys: [], upstreamToken: 'sim' },
    baseUrl: 'http://127.0.0.1:41234',
    demo: { callerKey: 'k', sessionId: 's' },
  })
  assert.equal(demo.fields.upstream, 'the embedded AiFi simulator (http://127.0.0.1:41234)')
})

test('the server logs the start-up line once, at info, after it listens', async (t) => {
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  const proxy = await startServerProcess(t, {
    args: ['--import', 'tsx', 'src/server.ts'],
    cwd: REPO,
    env: { AIFI_BASE_URL: simulator.url, AIFI_API_TOKEN: simulator.token, PROXY_API_KEYS: `tester:${CALLER_SECRET}` },
  })
  const line = await proxy.waitForLog((entry) => String(entry.msg).startsWith('aifi-merge-proxy started'))
  assert.equal(line.level, 30)
  assert.deepEqual(line.startup, { mode: 'service', upstream: new URL(simulator.url).origin, redis: 'off', tracing: 'off' })
  proxy.kill('SIGTERM')
  assert.equal(await proxy.exited, 0)
  assert.equal(proxy.logs.filter((entry) => String(entry.msg).startsWith('aifi-merge-proxy started')).length, 1)
})
