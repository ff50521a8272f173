import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { test } from 'node:test'
import { loadConfig } from '../src/config.ts'
import { configRefusal } from './helper.ts'

const BASE = 'https://oasis-api.public.sandbox.oasis.aifi.com'


test('defaults follow the documented table', () => {
  const config = loadConfig({ AIFI_BASE_URL: BASE })
  assert.equal(config.port, 8080)
  assert.equal(config.host, '0.0.0.0')
  assert.equal(config.aifiMaxRps, 20)
  assert.equal(config.upstreamTimeoutMs, 10_000)
  assert.equal(config.upstreamRetries, 3)
  assert.equal(config.requestDeadlineMs, 30_000)
  assert.equal(config.lockWaitMs, 10_000)
  assert.equal(config.lockTtlMs, 5_000)
  assert.equal(config.maxBatch, 64)
  assert.equal(config.bodyLimitBytes, 262_144)
  assert.equal(config.maxDepth, 32)
  assert.equal(config.shutdownDelayMs, 0)
  assert.equal(config.shutdownGraceMs, 10_000)
  assert.equal(config.logLevel, 'info')
  assert.ok(Object.isFrozen(config))
})

test('with the embedded simulator (no AIFI_BASE_URL) the proxy listens on 127.0.0.1 unless HOST says otherwise', () => {
  assert.equal(loadConfig({}).host, '127.0.0.1')
  assert.equal(loadConfig({ HOST: '0.0.0.0' }).host, '0.0.0.0')
  assert.equal(loadConfig({ AIFI_BASE_URL: BASE, HOST: '127.0.0.1' }).host, '127.0.0.1')
})

test('one message names every bad variable', () => {
  const message = configRefusal({ PORT: 'eighty', MAX_BATCH: '0', AIFI_BASE_URL: 'ftp://x', LOG_LEVEL: 'loud' })
  for (const name of ['PORT', 'MAX_BATCH', 'AIFI_BASE_URL', 'LOG_LEVEL']) assert.match(message, new RegExp(`${name}:`))
})

test('caller keys are name:secret pairs whose secret may contain colons', () => {
  const config = loadConfig({ AIFI_BASE_URL: BASE, AIFI_API_TOKEN: 't', PROXY_API_KEYS: 'billing:a:b:c, loyalty:xyz' })
  assert.deepEqual(config.callerKeys, [
    { name: 'billing', secret: 'a:b:c' },
    { name: 'loyalty', secret: 'xyz' },
  ])
})

test('a malformed caller key is refused without echoing it', () => {
  const message = configRefusal({ AIFI_BASE_URL: BASE, AIFI_API_TOKEN: 't', PROXY_API_KEYS: 'no-secret-here-s3cr3t' })
  assert.match(message, /PROXY_API_KEYS/)
  assert.doesNotMatch(message, /s3cr3t/)
})

test('caller secrets must be printable ASCII, since they travel in an HTTP header', () => {
  for (const keys of ['a:sécret', 'a: padded', 'bad name:x']) {
    assert.match(configRefusal({ AIFI_BASE_URL: BASE, AIFI_API_TOKEN: 't', PROXY_API_KEYS: keys }), /PROXY_API_KEYS/)
  }
  assert.equal(loadConfig({ PROXY_API_KEYS: 'svc.a-1:!#$%&*+/=?^`{|}~"' }).callerKeys?.[0]?.secret, '!#$%&*+/=?^`{|}~"')
})

test('AIFI_API_TOKEN without PROXY_API_KEYS is refused: it would be an open relay', () => {
  assert.match(configRefusal({ AIFI_BASE_URL: BASE, AIFI_API_TOKEN: 'tok' }), /AIFI_API_TOKEN: .*open relay/)
  assert.match(configRefusal({ AIFI_API_TOKEN: 'tok' }), /AIFI_API_TOKEN/)
})

test('PROXY_API_KEYS without AIFI_API_TOKEN is refused when AIFI_BASE_URL is set', () => {
  assert.match(configRefusal({ AIFI_BASE_URL: BASE, PROXY_API_KEYS: 'a:b' }), /PROXY_API_KEYS/)
  assert.deepEqual(loadConfig({ PROXY_API_KEYS: 'a:b' }).callerKeys, [{ name: 'a', secret: 'b' }])
})

test('NODE_ENV=production without AIFI_BASE_URL is refused', () => {
  assert.match(configRefusal({ NODE_ENV: 'production' }), /AIFI_BASE_URL: is required when NODE_ENV=production/)
  assert.equal(loadConfig({ NODE_ENV: 'production', AIFI_BASE_URL: BASE }).nodeEnv, 'production')
})

test('the server exits non-zero with one message naming every bad variable', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { PATH: process.env.PATH, PORT: '99999', UPSTREAM_RETRIES: '-1', AIFI_API_TOKEN: 'sekrit-token' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const [code] = await once(child, 'exit')
  assert.equal(code, 1)
  assert.match(stderr, /PORT:/)
  assert.match(stderr, /UPSTREAM_RETRIES:/)
  assert.match(stderr, /AIFI_API_TOKEN:/)
  assert.doesNotMatch(stderr, /sekrit-token/)
  assert.equal(stderr.match(/Invalid configuration/g)?.length, 1)
})
