import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { captureLogs, patchSession, startTestApp } from './helper.ts'

// docs/consistency.md#verification: AiFi answering 200 while keeping the old metadata must not pass for a
// deletion. The simulator's ignore-write fault is that AiFi: it answers with the session as it was.

const PII = 'PII-value-never-logged'
const metadata = { pii: PII, profile: { pii: PII, name: 'kept' }, keep: 1, events: [{ eventId: 'e1' }] }

async function verificationFailures(app: FastifyInstance): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  const match = /^aifi_proxy_verification_failures_total (\d+)$/m.exec(text)
  assert.ok(match, 'the metric is exported')
  return Number(match[1])
}

for (const [name, patch, pointer] of [
  ['a top-level key', { pii: null }, '/pii'],
  ['a nested key', { profile: { pii: null } }, '/profile/pii'],
] as const) {
  test(`a deletion of ${name} that AiFi answers 200 to but does not store is 502, logged by path and counted`, async (t) => {
    const logs = captureLogs()
    const { app, simulator } = await startTestApp(t, { loggerInstance: logs.logger, simulatorOptions: { seed: false } })
    simulator.createSession({ sessionId: 's-1', metadata })
    simulator.injectFault({ op: 'write', kind: 'ignore-write', count: 1 })

    const response = await patchSession(app, 's-1', { metadata: patch })
    assert.equal(response.statusCode, 502)
    assert.equal(response.headers['x-merge-result'], undefined)
    assert.equal(response.json().type, 'E_UPSTREAM_BAD_RESPONSE')
    assert.equal(await verificationFailures(app), 1)
    // AiFi kept the old metadata: the caller is told, and what is stored is what AiFi kept.
    assert.deepEqual(simulator.getSession('s-1')!.metadata, metadata)
    const line = logs.entries().find((entry) => entry.level === 50 && Array.isArray(entry.mismatchedPaths))
    assert.ok(line, 'the mismatch is logged as an error')
    assert.deepEqual(line.mismatchedPaths, pointer === '/pii' ? [pointer] : ['/profile', pointer])
    assert.ok(!logs.lines.join('').includes(PII), 'values are never logged')
  })
}

test('a deletion AiFi does store is applied, and verification passes', async (t) => {
  const { app, simulator } = await startTestApp(t, { simulatorOptions: { seed: false } })
  simulator.createSession({ sessionId: 's-1', metadata })

  const response = await patchSession(app, 's-1', { metadata: { pii: null, profile: { pii: null } } })
  assert.equal(response.statusCode, 200)
  assert.equal(response.headers['x-merge-result'], 'applied')
  assert.equal(await verificationFailures(app), 0)
  assert.deepEqual(simulator.getSession('s-1')!.metadata, { profile: { name: 'kept' }, keep: 1, events: [{ eventId: 'e1' }] })
})
