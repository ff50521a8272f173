import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CENSORED, censorSecrets } from '../src/log-censor.ts'
import { captureLogs } from './helper.ts'

test('every secret key is censored wherever it sits in plain objects and arrays, in any case', () => {
  const logged = {
    req: { headers: { cookie: 'session=COOKIE', 'idempotency-key': 'IDEMPOTENCY', Authorization: 'Bearer HEADER' } },
    batches: [{ patches: [{ caller: { token: 'TOKEN' } }] }],
    config: { upstreamToken: 'UPSTREAM', aifiApiToken: 'AIFI', callerKeys: [{ name: 'a', secret: 'KEY' }], secret: 'SECRET' },
    a: { b: { c: { d: { authorization: 'DEEP' } } } },
  }
  const censored = censorSecrets(logged)
  assert.deepEqual(censored, {
    req: { headers: { cookie: CENSORED, 'idempotency-key': CENSORED, Authorization: CENSORED } },
    batches: [{ patches: [{ caller: { token: CENSORED } }] }],
    config: { upstreamToken: CENSORED, aifiApiToken: CENSORED, callerKeys: CENSORED, secret: CENSORED },
    a: { b: { c: { d: { authorization: CENSORED } } } },
  })
  assert.equal(logged.req.headers.cookie, 'session=COOKIE', 'what the caller logged is not changed')
  assert.equal(logged.batches[0]!.patches[0]!.caller.token, 'TOKEN')
})

test('a line with no secret is logged as it is, not copied; class instances are left to their serializers', () => {
  const line = { requestId: 'r-1', type: 'E_QUOTA_EXHAUSTED', paths: ['/a', '/b'], nested: { count: 2 } }
  assert.equal(censorSecrets(line), line)
  assert.equal(censorSecrets(line).nested, line.nested)
  const error = Object.assign(new Error('x'), { authorization: 'left to the err serializer' })
  assert.equal(censorSecrets({ err: error }).err, error)
})

test('the logger censors child bindings and log lines, and keeps what is not secret', () => {
  const logs = captureLogs()
  const child = logs.logger.child({ caller: { name: 'checkout', authorization: 'Bearer BINDING-secret' } })
  child.info({ request: { headers: { 'idempotency-key': 'KEY-secret', 'x-request-id': 'kept' } } }, 'with secrets')
  const output = logs.lines.join('')
  for (const needle of ['BINDING-secret', 'KEY-secret']) assert.ok(!output.includes(needle), needle)
  const [line] = logs.entries()
  assert.deepEqual(line!.caller, { name: 'checkout', authorization: CENSORED })
  assert.deepEqual(line!.request, { headers: { 'idempotency-key': CENSORED, 'x-request-id': 'kept' } })
})
