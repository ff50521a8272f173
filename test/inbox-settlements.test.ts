import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ProxyError } from '../src/errors.ts'
import { createLogger } from '../src/logger.ts'
import { decodeMessage, decodeStored, encodeBatch } from '../src/redis/inbox-settlements.ts'

const logger = createLogger({ logLevel: 'silent' })
const session = { id: 7, metadata: { promo: 'X', events: [] }, suspectedFraud: false }
const applied = { session, etag: '"abc"', mergeResult: 'applied' as const }

test('a batch’s shared result travels once per message, and each caller gets its own settlement back', () => {
  const { stored, messages } = encodeBatch(
    [
      { id: 'a', replica: 'r1', settlement: { ok: true, result: applied } },
      { id: 'b', replica: 'r2', settlement: { ok: true, result: applied } },
      { id: 'c', replica: 'r2', settlement: { ok: false, error: new ProxyError('E_PRECONDITION_FAILED') } },
      { id: 'd', replica: 'r2', settlement: { ok: true, result: applied } },
    ],
    logger,
  )
  const toR2 = messages.get('r2')!
  assert.equal(toR2.split('"promo"').length - 1, 1, 'the session is in the message once, not once per caller')
  const decoded = new Map(decodeMessage(toR2))
  assert.deepEqual([...decoded.keys()], ['b', 'c', 'd'])
  assert.deepEqual(decoded.get('b'), { ok: true, result: applied })
  const refused = decoded.get('c')!
  assert.ok(!refused.ok && refused.error instanceof ProxyError)
  assert.equal(refused.error.type, 'E_PRECONDITION_FAILED')
  assert.equal(refused.error.statusCode, 412)
  assert.deepEqual(new Map(decodeMessage(messages.get('r1')!)).get('a'), { ok: true, result: applied })

  assert.deepEqual(stored.filter((_, i) => i % 2 === 0), ['a', 'b', 'c', 'd'])
  assert.deepEqual(decodeStored(stored[1]!), { ok: true, result: applied })
  const kept = decodeStored(stored[5]!)
  assert.ok(!kept.ok && kept.error instanceof ProxyError && kept.error.type === 'E_PRECONDITION_FAILED')
})

test('an error that is not the proxy’s own crosses replicas as E_INTERNAL, without its message', () => {
  const { messages } = encodeBatch([{ id: 'a', replica: 'r1', settlement: { ok: false, error: new Error('secret detail') } }], logger)
  assert.doesNotMatch(messages.get('r1')!, /secret detail/)
  const [[, settlement]] = decodeMessage(messages.get('r1')!) as [[string, { ok: false; error: ProxyError }]]
  assert.equal(settlement.error.type, 'E_INTERNAL')
})
