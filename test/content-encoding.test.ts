import assert from 'node:assert/strict'
import { test } from 'node:test'
import { gzipSync } from 'node:zlib'
import type { JsonObject } from '../src/schemas.ts'
import { CALLER_AUTH, SESSIONS, assertErrorShape, callsDuring, patchSession, startTestApp } from './helper.ts'

// docs/http-api.md#content-types: the proxy decodes no content coding, so only an uncompressed body is read.

test('a body with a Content-Encoding other than identity is 415, whatever it holds, and never reaches AiFi', async (t) => {
  const { app, simulator, config } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  const before = structuredClone(simulator.getSession(id))
  const json = JSON.stringify({ metadata: { price: 10 } })
  const bodies: Array<[string, string | Buffer, string]> = [
    ['plain JSON declared gzip', json, 'gzip'],
    ['a real gzip body', gzipSync(json), 'gzip'],
    ['gzip after identity', json, 'identity, gzip'],
    ['brotli, in capitals', json, 'BR'],
    ['over the body limit too (415 before 413)', JSON.stringify({ metadata: { x: 'y'.repeat(config.bodyLimitBytes) } }), 'deflate'],
  ]
  for (const [name, payload, encoding] of bodies) {
    const [response, calls] = await callsDuring(simulator, () =>
      app.inject({
        method: 'PATCH',
        url: `${SESSIONS}/${encodeURIComponent(id)}`,
        headers: { authorization: CALLER_AUTH, 'content-type': 'application/json', 'content-encoding': encoding },
        payload,
      }),
    )
    assert.equal(response.statusCode, 415, name)
    assert.equal(assertErrorShape(response, name).type, 'E_UNSUPPORTED_MEDIA_TYPE', name)
    assert.equal(response.headers['accept-encoding'], 'identity', name)
    assert.deepEqual(calls, [], `${name}: no upstream call`)
  }
  assert.deepEqual(simulator.getSession(id), before, 'nothing was written')
})

test('Content-Encoding: identity (any case) is a plain body, and credentials are checked before the coding', async (t) => {
  const { app, simulator } = await startTestApp(t)
  const id = simulator.seededSessionIds[0]!
  for (const [encoding, price] of [['identity', 1], ['Identity', 2]] as const) {
    const response = await patchSession(app, id, { metadata: { price } }, { headers: { 'content-encoding': encoding } })
    assert.equal(response.statusCode, 200, encoding)
    assert.equal((simulator.getSession(id)!.metadata as JsonObject).price, price)
  }
  const anonymous = await patchSession(app, id, { metadata: { price: 3 } }, { headers: { 'content-encoding': 'gzip', authorization: '' } })
  assert.equal(anonymous.statusCode, 401)
})
