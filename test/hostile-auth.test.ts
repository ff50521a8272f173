import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { syncBuiltinESMExports } from 'node:module'
import { test, type TestContext } from 'node:test'
import Fastify from 'fastify'
import fc from 'fast-check'
import { createAuthenticator, type AuthSettings } from '../src/http/auth.ts'
import { CALLER_AUTH, CALLER_SECRET, SESSIONS, assertErrorShape, callsDuring, listenOnFreePort, rawRequest, startTestApp } from './helper.ts'

// Printable ASCII: header bytes reach Node as latin1, so only ASCII secrets are portable across clients.
const SECRETS = ['s3cret:with:colons', `special !"#$%&'()*+-./;<=>?@[\\]^_\`{|}~ key`, 'short']
const SERVICE: AuthSettings = {
  mode: 'service',
  callerKeys: SECRETS.map((secret, index) => ({ name: `caller-${index}`, secret })),
  upstreamToken: 'upstream-token',
}

/** The authenticator behind a bare fastify route, so it sees real requests: 200 with the caller, or 401. */
async function startAuthenticatorApp(t: TestContext, settings: AuthSettings) {
  const authenticate = createAuthenticator(settings)
  const app = Fastify()
  app.get('/', async (request) => authenticate(request))
  t.after(() => app.close())
  return (authorization?: string) => app.inject({ method: 'GET', url: '/', headers: authorization === undefined ? {} : { authorization } })
}

test('a wrong key of any length, a prefix or an extension of a real key are all refused', async (t) => {
  const check = await startAuthenticatorApp(t, SERVICE)
  for (const [index, secret] of SECRETS.entries()) {
    assert.equal((await check(`Bearer ${secret}`)).json().name, `caller-${index}`)
    const nearMisses = [
      ...Array.from({ length: secret.length - 1 }, (_, length) => secret.slice(0, length + 1)),
      `${secret}x`,
      `${secret.slice(0, -1)}${secret.at(-1) === 'x' ? 'y' : 'x'}`,
      secret.toUpperCase(),
      `caller-${index}:${secret}`,
    ].filter((candidate) => !SECRETS.includes(candidate.trim()))
    for (const candidate of nearMisses) assert.equal((await check(`Bearer ${candidate}`)).statusCode, 401, candidate)
  }
  for (const length of [1, 5, 31, 32, 33, 64, 1000, 8000]) {
    assert.equal((await check(`Bearer ${'k'.repeat(length)}`)).statusCode, 401, `length ${length}`)
  }
})

test('keys are compared in constant time: every key, every time, as digests of equal length', async (t) => {
  const spy = t.mock.method(crypto, 'timingSafeEqual')
  // auth.ts imports timingSafeEqual as an ES binding; this points it at the spy (and back, after the test).
  syncBuiltinESMExports()
  t.after(() => {
    spy.mock.restore()
    syncBuiltinESMExports()
  })
  const check = await startAuthenticatorApp(t, SERVICE)
  // A miss, a prefix, a match on the first key and on the last key: none stops early.
  for (const presented of ['nope', SECRETS[0]!.slice(0, 4), SECRETS[0]!, SECRETS.at(-1)!, 'x'.repeat(5000)]) {
    spy.mock.resetCalls()
    await check(`Bearer ${presented}`)
    assert.equal(spy.mock.callCount(), SECRETS.length, presented)
    for (const call of spy.mock.calls) {
      const [known, given] = call.arguments as [Buffer, Buffer]
      assert.equal(known.length, 32, 'a SHA-256 digest, not the secret itself')
      assert.equal(given.length, 32, 'whatever the presented length')
    }
  }
})

test('the Bearer scheme is case-insensitive; other schemes and malformed headers are refused', async (t) => {
  const check = await startAuthenticatorApp(t, SERVICE)
  const secret = SECRETS[0]!
  for (const header of [`Bearer ${secret}`, `bearer ${secret}`, `BEARER ${secret}`, `bEaReR ${secret}`, `Bearer\t${secret}`, `Bearer    ${secret}`]) {
    assert.equal((await check(header)).statusCode, 200, header)
  }
  for (const header of [undefined, '', 'Bearer', 'Bearer ', `Bearer${secret}`, `Basic ${secret}`, `Token ${secret}`, secret, `Bearer: ${secret}`, `Bearer-${secret}`]) {
    assert.equal((await check(header)).statusCode, 401, String(header))
  }
})

test('end to end, secrets may hold colons and special characters; only the part after the first colon is the key', async (t) => {
  const keys = [`colons:${SECRETS[0]}`, `special:${SECRETS[1]}`].join(',')
  const { app, simulator } = await startTestApp(t, { env: { PROXY_API_KEYS: keys } })
  // Over a real socket: header bytes go through Node's parser as a client would send them.
  const port = await listenOnFreePort(app)
  const patch = (authorization: string) =>
    rawRequest(port, 'PATCH', `${SESSIONS}/${simulator.seededSessionIds[0]}`, {
      headers: { authorization, 'content-type': 'application/json' },
      body: '{"metadata":{"k":1}}',
    })
  assert.equal((await patch(`Bearer ${SECRETS[0]}`)).status, 200)
  assert.equal((await patch(`bearer ${SECRETS[1]}`)).status, 200)
  for (const refused of [`Bearer colons:${SECRETS[0]}`, 'Bearer s3cret', 'Bearer colons', CALLER_AUTH]) {
    const [response, calls] = await callsDuring(simulator, () => patch(refused))
    assert.equal(response.status, 401, refused)
    assert.deepEqual(calls, [], refused)
  }
})

test('a request that fails auth never touches AiFi, whatever else it carries, and never echoes the key', async (t) => {
  const service = await startTestApp(t, { env: { AIFI_MAX_RPS: '100000' } })
  const forward = await startTestApp(t, { auth: 'forward' })
  const presented = fc.oneof(
    fc.string({ maxLength: 60 }).map((text) => `Bearer wrong-${text}`),
    fc.string({ maxLength: 60 }),
    fc.constantFrom(`Basic ${CALLER_SECRET}`, `Bearer ${CALLER_SECRET}x`, `Bearer ${CALLER_SECRET.slice(0, -1)}`, `Bearer ${service.simulator.token}`),
  )
  const request = fc.record({
    method: fc.constantFrom('GET', 'PATCH', 'HEAD'),
    query: fc.constantFrom('', '?dryRun=true', '?dryRun=nope'),
    body: fc.constantFrom('{"metadata":{"a":1}}', '{"metadata":', '{"metadata":{"events":[]}}', '{"__proto__":{}}'),
    extra: fc.constantFrom({}, { 'if-match': '*' }, { 'idempotency-key': 'k-1' }, { 'content-type': 'text/plain' }),
  })
  await fc.assert(
    fc.asyncProperty(presented, request, async (authorization, { method, query, body, extra }) => {
      fc.pre(authorization.trim() !== CALLER_AUTH && !/^bearer\s+(test-secret:with-colon|second-key)\s*$/i.test(authorization))
      const { app, simulator } = service
      const [response, calls] = await callsDuring(simulator, () =>
        app.inject({
          method,
          url: `${SESSIONS}/${simulator.seededSessionIds[0]}${query}`,
          headers: { authorization, 'content-type': 'application/json', ...extra },
          ...(method === 'PATCH' ? { payload: body } : {}),
        }),
      )
      assert.equal(response.statusCode, 401, authorization)
      assert.deepEqual(calls, [], authorization)
      if (method !== 'HEAD') {
        assert.equal(assertErrorShape(response).type, 'E_UNAUTHORIZED')
        if (authorization.length >= 8) assert.ok(!response.body.includes(authorization), 'the key is not echoed')
      }
    }),
    { numRuns: 100, seed: 4242, includeErrorInReport: true },
  )
  // Forward mode: no Authorization header at all (or a blank one) is refused before any upstream call.
  for (const headers of [{}, { authorization: '' }, { authorization: '   ' }]) {
    const [response, calls] = await callsDuring(forward.simulator, () =>
      forward.app.inject({
        method: 'PATCH',
        url: `${SESSIONS}/${forward.simulator.seededSessionIds[0]}`,
        headers: { 'content-type': 'application/json', ...headers },
        payload: '{"metadata":{"a":1}}',
      }),
    )
    assert.equal(response.statusCode, 401)
    assert.deepEqual(calls, [])
  }
})
