import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadConfig } from '../src/config.ts'
import { configRefusal } from './helper.ts'

const NUMERIC = [
  'PORT',
  'AIFI_MAX_RPS',
  'UPSTREAM_TIMEOUT_MS',
  'UPSTREAM_RETRIES',
  'REQUEST_DEADLINE_MS',
  'LOCK_WAIT_MS',
  'LOCK_TTL_MS',
  'MAX_BATCH',
  'BODY_LIMIT_BYTES',
  'MAX_DEPTH',
  'SHUTDOWN_DELAY_MS',
  'SHUTDOWN_GRACE_MS',
]
const URLS = ['AIFI_BASE_URL', 'REDIS_URL', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']

/** The one line of the refusal that names `name`. */
const lineFor = (message: string, name: string) => message.split('\n').find((line) => line.startsWith(`  ${name}: `)) ?? ''

test('a bad number says what is expected, the default and the value given, for every numeric setting', () => {
  const message = configRefusal(Object.fromEntries(NUMERIC.map((name) => [name, 'abc'])))
  for (const name of NUMERIC) {
    const line = lineFor(message, name)
    assert.match(line, /: expected .+ \(default \d+\), got "abc"$/, name)
    assert.doesNotMatch(line, /NaN|Invalid input|Too (small|big)/, name)
  }
  assert.equal(lineFor(configRefusal({ AIFI_MAX_RPS: 'abc' }), 'AIFI_MAX_RPS'), '  AIFI_MAX_RPS: expected a number of requests per second above 0, such as 20 or 0.5 (default 20), got "abc"')
  assert.match(lineFor(configRefusal({ PORT: '70000' }), 'PORT'), /expected a port number from 0 to 65535 \(default 8080\), got "70000"/)
  assert.match(lineFor(configRefusal({ MAX_BATCH: '1.5' }), 'MAX_BATCH'), /expected a whole number of 1 or more \(default 64\), got "1\.5"/)
  assert.match(lineFor(configRefusal({ SHUTDOWN_GRACE_MS: '-1' }), 'SHUTDOWN_GRACE_MS'), /expected a whole number of 0 or more/)
})

test('numbers are read as before: the defaults, decimals where allowed, and zero where allowed', () => {
  const config = loadConfig({ AIFI_MAX_RPS: '0.5', SHUTDOWN_DELAY_MS: '0', UPSTREAM_RETRIES: '0', PORT: '0' })
  assert.deepEqual([config.aifiMaxRps, config.shutdownDelayMs, config.upstreamRetries, config.port], [0.5, 0, 0, 0])
  const defaults = loadConfig({})
  assert.deepEqual([defaults.port, defaults.aifiMaxRps, defaults.maxBatch, defaults.shutdownGraceMs], [8080, 20, 64, 10_000])
})

test('a bad URL says which schemes and gives an example, and never repeats the value, which may hold a password', () => {
  const message = configRefusal(Object.fromEntries(URLS.map((name) => [name, 'ftp://user:pa55word@host'])))
  for (const name of URLS) assert.match(lineFor(message, name), /: expected an? \S+:\/\/ or \S+:\/\/ URL such as \S+ \(the value given is not shown\)$/, name)
  assert.ok(!message.includes('pa55word'))
  assert.match(lineFor(message, 'REDIS_URL'), /redis:\/\/ or rediss:\/\/ URL such as redis:\/\/redis:6379/)
})
