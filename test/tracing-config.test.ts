import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadConfig } from '../src/config.ts'
import { configRefusal } from './helper.ts'

const exportersFor = (env: Record<string, string>) => loadConfig(env).tracesExporters


test('tracing is off unless an OTLP endpoint or OTEL_TRACES_EXPORTER turns it on', () => {
  assert.deepEqual(exportersFor({}), [])
  assert.deepEqual(exportersFor({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ', OTEL_TRACES_EXPORTER: '' }), [], 'blank counts as unset')
  assert.deepEqual(exportersFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), ['otlp'])
  assert.deepEqual(exportersFor({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector/v1/traces' }), ['otlp'])
  assert.deepEqual(exportersFor({ OTEL_TRACES_EXPORTER: 'otlp' }), ['otlp'])
  assert.deepEqual(exportersFor({ OTEL_TRACES_EXPORTER: 'console' }), ['console'])
  assert.deepEqual(exportersFor({ OTEL_TRACES_EXPORTER: 'otlp, console,otlp' }), ['otlp', 'console'])
})

test('OTEL_TRACES_EXPORTER=none and OTEL_SDK_DISABLED=true turn tracing off, endpoint or not', () => {
  assert.deepEqual(exportersFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }), [])
  assert.deepEqual(exportersFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'TRUE' }), [])
  assert.deepEqual(exportersFor({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'false' }), ['otlp'])
})

test('a protocol, exporter or endpoint the proxy cannot honour stops it at start-up, named with every other bad variable', () => {
  const message = configRefusal({
    OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
    OTEL_TRACES_EXPORTER: 'zipkin',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317',
    PORT: 'eighty',
  })
  for (const name of ['OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_TRACES_EXPORTER', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'PORT']) {
    assert.match(message, new RegExp(`^  ${name}: `, 'm'))
  }
  assert.match(configRefusal({ OTEL_TRACES_EXPORTER: 'none,otlp' }), /OTEL_TRACES_EXPORTER: expected otlp, console/)
  assert.deepEqual(exportersFor({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_TRACES_EXPORTER: 'otlp' }), ['otlp'])
})

test('the OTLP endpoint the logs name is the one the exporter uses, without credentials or query', () => {
  const endpointFor = (env: Record<string, string>) => loadConfig(env).tracesEndpoint
  assert.equal(endpointFor({}), 'http://localhost:4318/v1/traces')
  assert.equal(endpointFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), 'http://collector:4318/v1/traces')
  assert.equal(endpointFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector/otlp/' }), 'https://collector/otlp/v1/traces')
  const specific = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://u:p@traces.example/in?key=k' }
  assert.equal(endpointFor(specific), 'https://traces.example/in')
})
