import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { test } from 'node:test'
import { CALLER_AUTH, SESSIONS, assertErrorShape, callsDuring, listenOnFreePort, patchSession, snapshotPrototypes, startTestApp } from './helper.ts'

const FORBIDDEN = ['__proto__', 'constructor', 'prototype']
const CONTENT_TYPES = ['application/json', 'application/merge-patch+json']
// What a successful pollution would leave behind, on every object in the process.
const PAYLOAD = '{"polluted":"yes","prototype":{"polluted":"yes"}}'

function assertNotPolluted(): void {
  const probe = {} as Record<string, unknown>
  assert.equal(probe.polluted, undefined)
  assert.equal(([] as unknown as Record<string, unknown>).polluted, undefined)
  assert.equal(Object.getPrototypeOf(probe), Object.prototype)
}

/**
 * Raw JSON text with `key` at `depth`, depth counted as docs/http-api.md#nesting-depth does (metadata is 1, the body's top level 0),
 * reached through objects or arrays. Returns the text and the RFC 6901 pointer the error must name.
 */
function bodyWithKeyAt(key: string, depth: number, through: 'object' | 'array'): [string, string] {
  if (depth === 0) return [`{"${key}":${PAYLOAD}}`, `/${key}`]
  let text = `{"${key}":${PAYLOAD}}`
  const tokens: string[] = []
  for (let level = depth; level > 1; level--) {
    text = through === 'object' ? `{"n":${text}}` : `[${text}]`
    tokens.unshift(through === 'object' ? 'n' : '0')
  }
  return [`{"metadata":${text}}`, `/${['metadata', ...tokens, key].join('/')}`]
}

test('__proto__, constructor and prototype are refused at every depth, under both media types, and pollute nothing', async (t) => {
  const { app, simulator, config } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  const before = snapshotPrototypes()
  for (const contentType of CONTENT_TYPES) {
    for (const key of FORBIDDEN) {
      // Past MAX_DEPTH too: the forbidden-key check comes before the depth check (docs/http-api.md#check-order).
      for (let depth = 0; depth <= config.maxDepth + 2; depth++) {
        for (const through of ['object', 'array'] as const) {
          const [text, pointer] = bodyWithKeyAt(key, depth, through)
          const [response, calls] = await callsDuring(simulator, () =>
            patchSession(app, id, text, { headers: { 'content-type': contentType } }),
          )
          const context = `${contentType} ${through} depth ${depth}: ${text}`
          assert.equal(response.statusCode, 400, context)
          const body = assertErrorShape(response, context)
          assert.equal(body.type, 'E_FORBIDDEN_KEY', context)
          assert.deepEqual(body.errors, [{ field: pointer, error: 'this key is not allowed', rule: 'key.forbidden' }], context)
          assert.deepEqual(calls, [], context)
          assertNotPolluted()
        }
      }
    }
  }
  assert.equal(snapshotPrototypes(), before)
})

test('escaped, duplicated and sibling spellings of the forbidden keys are refused too', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  const before = snapshotPrototypes()
  const bodies = [
    // JSON.parse decodes escapes, so these are the same keys.
    ['{"metadata":{"\\u005f\\u005fproto\\u005f\\u005f":{"polluted":"yes"}}}', '/metadata/__proto__'],
    ['{"metadata":{"constr\\u0075ctor":{"prototype":{"polluted":"yes"}}}}', '/metadata/constructor'],
    // The last duplicate wins in JSON.parse; the forbidden one must not hide behind an earlier clean one.
    ['{"metadata":{"a":1},"metadata":{"__proto__":{"polluted":"yes"}}}', '/metadata/__proto__'],
    // After a legitimate sibling, and below the reserved key.
    ['{"metadata":{"ok":1,"prototype":2}}', '/metadata/prototype'],
    ['{"metadata":{"events":{"__proto__":{}}}}', '/metadata/events/__proto__'],
    ['{"suspectedFraud":true,"__proto__":{"suspectedFraud":false}}', '/__proto__'],
  ]
  for (const contentType of CONTENT_TYPES) {
    for (const [text, pointer] of bodies) {
      const [response, calls] = await callsDuring(simulator, () => patchSession(app, id, text!, { headers: { 'content-type': contentType } }))
      assert.equal(response.statusCode, 400, text)
      assert.equal(response.json().type, 'E_FORBIDDEN_KEY', text)
      assert.equal(response.json().errors[0].field, pointer, text)
      assert.deepEqual(calls, [], text)
    }
  }
  assertNotPolluted()
  assert.equal(snapshotPrototypes(), before)
})

test('near misses are ordinary keys and values: the guard does not over-block', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  const patch = { metadata: { proto: 1, __proto: 2, Constructor: 3, prototypes: 4, note: '__proto__', list: ['constructor'] } }
  const response = await patchSession(app, id, patch)
  assert.equal(response.statusCode, 200)
  for (const [name, value] of Object.entries(patch.metadata)) {
    assert.deepEqual((simulator.getSession(id)!.metadata as Record<string, unknown>)[name], value)
  }
})

test('forbidden keys already stored upstream are carried forward as own keys, never as prototypes', async (t) => {
  const { app, simulator } = await startTestApp(t)
  // JSON.parse makes these own properties, as AiFi's JSON would.
  const metadata = JSON.parse('{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"events":[]}')
  const session = simulator.createSession({ metadata })
  const before = snapshotPrototypes()
  const response = await patchSession(app, session.sessionId!, { metadata: { added: true } })
  assert.equal(response.statusCode, 200)
  const stored = simulator.getSession(session.sessionId!)!.metadata as Record<string, unknown>
  assert.deepEqual(Object.keys(stored).sort(), ['__proto__', 'added', 'constructor', 'events'])
  assert.equal(Object.getPrototypeOf(stored), Object.prototype)
  assert.deepEqual(Object.getOwnPropertyDescriptor(stored, '__proto__')?.value, { polluted: 'yes' })
  assert.equal(snapshotPrototypes(), before)
  assertNotPolluted()
})

test('forbidden names in the query string and in header names change no prototype', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const port = await listenOnFreePort(app)
  const id = simulator.seededSessionIds[0]!
  const before = snapshotPrototypes()
  const query = await app.inject({
    method: 'PATCH',
    url: `${SESSIONS}/${id}?__proto__[polluted]=yes&constructor[prototype][polluted]=yes&__proto__=x`,
    headers: { authorization: CALLER_AUTH, 'content-type': 'application/json' },
    payload: '{"metadata":{"q":1}}',
  })
  assert.ok(query.statusCode < 500, query.body)
  // Header names go through Node's parser, so they are sent raw over a socket. Not half-closed: Node's server
  // would abort a request whose client ended its side; `Connection: close` ends the exchange instead.
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    socket.on('data', (chunk) => (text += chunk))
    socket.on('error', reject)
    socket.on('close', () => resolve(text))
    socket.write(
      `GET ${SESSIONS}/${id} HTTP/1.1\r\nHost: x\r\nAuthorization: ${CALLER_AUTH}\r\n__proto__: {"polluted":"yes"}\r\n` +
        'constructor: x\r\nprototype: y\r\nConnection: close\r\n\r\n',
    )
  })
  assert.match(answer, /^HTTP\/1\.1 200 /)
  assertNotPolluted()
  assert.equal(snapshotPrototypes(), before)
})
