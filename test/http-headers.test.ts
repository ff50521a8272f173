import assert from 'node:assert/strict'
import { test } from 'node:test'
import { getSession, patchSession, startTestApp } from './helper.ts'

// Response headers HTTP's own specifications ask for (docs/http-api.md#headers).

test('every 401 carries WWW-Authenticate: Bearer (RFC 9110 §11.6.1), in both auth modes', async (t) => {
  const service = await startTestApp(t)
  const id = service.simulator.seededSessionIds[0]!
  for (const authorization of ['', 'Bearer wrong', 'Basic dXNlcjpwYXNz']) {
    for (const response of [
      await patchSession(service.app, id, { metadata: { a: 1 } }, { headers: { authorization } }),
      await getSession(service.app, id, { authorization }),
    ]) {
      assert.equal(response.statusCode, 401, authorization)
      assert.equal(response.headers['www-authenticate'], 'Bearer', authorization)
    }
  }

  const forward = await startTestApp(t, { auth: 'forward' })
  const forwardId = forward.simulator.seededSessionIds[0]!
  const missing = await patchSession(forward.app, forwardId, { metadata: { a: 1 } }, { headers: { authorization: '' } })
  // AiFi refusing the caller's own token is a 401 for the caller too.
  const refusedUpstream = await patchSession(forward.app, forwardId, { metadata: { a: 1 } }, { headers: { authorization: 'Bearer not-aifis' } })
  assert.equal(forward.simulator.counters().log.length, 1, 'the second token was tried upstream')
  for (const response of [missing, refusedUpstream]) {
    assert.equal(response.statusCode, 401)
    assert.equal(response.headers['www-authenticate'], 'Bearer')
  }
  assert.equal((await getSession(service.app, id)).headers['www-authenticate'], undefined, 'not on a success')
})

test('every 200 to a PATCH carries Accept-Patch, as the GET does: applied, noop, dry run and replay', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  const answers = {
    get: await getSession(app, id),
    applied: await patchSession(app, id, { metadata: { tier: 'gold' } }, { headers: { 'idempotency-key': 'tier-1' } }),
    replayed: await patchSession(app, id, { metadata: { tier: 'gold' } }, { headers: { 'idempotency-key': 'tier-1' } }),
    noop: await patchSession(app, id, { metadata: { tier: 'gold' } }),
    dryRun: await patchSession(app, id, { metadata: { tier: 'silver' } }, { query: '?dryRun=true' }),
  }
  assert.equal(answers.replayed.headers['idempotency-replayed'], 'true')
  for (const [kind, response] of Object.entries(answers)) {
    assert.equal(response.statusCode, 200, kind)
    assert.equal(response.headers['accept-patch'], 'application/merge-patch+json', kind)
  }
  assert.deepEqual(
    [answers.applied, answers.noop, answers.dryRun].map((response) => response.headers['x-merge-result']),
    ['applied', 'noop', 'dry-run'],
  )
})

test('a 415 to a PATCH names the patch format to send instead (RFC 5789 §2.2)', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const response = await patchSession(app, simulator.seededSessionIds[0]!, '{}', { headers: { 'content-type': 'application/json-patch+json' } })
  assert.equal(response.statusCode, 415)
  assert.equal(response.headers['accept-patch'], 'application/merge-patch+json')
})
