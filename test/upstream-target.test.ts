import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildLocalApp } from '../src/local-app.ts'
import { loadConfig } from '../src/config.ts'
import { resolveUpstreamTarget } from '../src/upstream-target.ts'

test('the embedded simulator accepts the configured AIFI_API_TOKEN, so PROXY_API_KEYS with a token works without AiFi', async (t) => {
  const config = loadConfig({ PROXY_API_KEYS: 'svc:caller-key', AIFI_API_TOKEN: 'configured-token', LOG_LEVEL: 'silent' })
  const target = await resolveUpstreamTarget(config)
  t.after(() => target.close())
  assert.deepEqual(target.auth, { mode: 'service', callerKeys: config.callerKeys, upstreamToken: 'configured-token' })
  const app = await buildLocalApp(config, target)
  t.after(() => app.close())
  const response = await app.inject({
    method: 'PATCH',
    url: `/api/admin/v2/sessions/${target.demo!.sessionId}`,
    headers: { authorization: 'Bearer caller-key', 'content-type': 'application/json' },
    payload: '{"metadata":{"promo":"X"}}',
  })
  assert.equal(response.statusCode, 200)
  assert.equal(target.demo!.callerKey, 'caller-key', 'the printed curl uses the configured key')
})
