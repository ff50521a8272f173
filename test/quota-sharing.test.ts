import assert from 'node:assert/strict'
import { test } from 'node:test'
import { systemClock } from '../src/deadline.ts'
import { createFairQuota } from '../src/quota/fair-quota.ts'
import { createMemoryQuota } from '../src/quota/memory-quota.ts'
import { assertFloodRefusedAtOnce, assertRefusesBeforeQueueing, assertWaiterGivesPlaceBack, flowMetric } from './quota-checks.ts'
import { configRefusal, patchSession, startTestApp, until } from './helper.ts'

// AiFi's one quota shared by callers in weighted fair order (docs/consistency.md#sharing-the-quota).

const KEYS = 'checkout:checkout-key,backfill:backfill-key'
const as = (name: string) => ({ headers: { authorization: `Bearer ${name}-key` } })
/** The scheduler of one process at 20 calls/s, one flow's share being 1. */
const oneProcessQuota = (store: { burst?: number } = {}) =>
  createFairQuota(createMemoryQuota(20, store), { clock: systemClock, shareOf: () => 1, intervalMs: 50 })

test('CALLER_SHARES takes name:weight pairs of configured callers, and refuses anything else at start-up', async (t) => {
  const { config } = await startTestApp(t, { env: { PROXY_API_KEYS: KEYS, CALLER_SHARES: 'checkout:4, backfill:0.5' } })
  assert.deepEqual([...config.callerShares], [['checkout', 4], ['backfill', 0.5]])
  const base = { AIFI_BASE_URL: 'http://aifi.test', AIFI_API_TOKEN: 't', PROXY_API_KEYS: KEYS }
  assert.match(configRefusal({ ...base, CALLER_SHARES: 'checkout:4,nightly:1' }), /CALLER_SHARES.*nightly/)
  assert.match(configRefusal({ ...base, CALLER_SHARES: 'checkout:0' }), /CALLER_SHARES/)
  assert.match(configRefusal({ ...base, CALLER_SHARES: 'checkout' }), /CALLER_SHARES/)
  assert.match(configRefusal({ AIFI_BASE_URL: 'http://aifi.test', CALLER_SHARES: 'checkout:2' }), /CALLER_SHARES/)
})

test('two callers flooding at once at shares 1 and 3 get their turns in that ratio', async (t) => {
  const { app, simulator } = await startTestApp(t, {
    env: { PROXY_API_KEYS: KEYS, CALLER_SHARES: 'checkout:3,backfill:1', AIFI_MAX_RPS: '200', REQUEST_DEADLINE_MS: '20000' },
  })
  let flooding = true
  const flood = (caller: string) =>
    Array.from({ length: 20 }, async () => {
      const id = simulator.createSession({}).sessionId!
      for (let n = 0; flooding; n++) await patchSession(app, id, { metadata: { n } }, as(caller))
    })
  const workers = [...flood('checkout'), ...flood('backfill')]
  // Measured once both flows have a backlog, so neither gets an idle flow's share.
  await until(async () => (await flowMetric(app, 'flow_waiting', 'checkout')) >= 5 && (await flowMetric(app, 'flow_waiting', 'backfill')) >= 5)
  const before = { checkout: await flowMetric(app, 'flow_grants_total', 'checkout'), backfill: await flowMetric(app, 'flow_grants_total', 'backfill') }
  await until(async () => (await flowMetric(app, 'flow_grants_total', 'backfill')) - before.backfill >= 40)
  const checkout = (await flowMetric(app, 'flow_grants_total', 'checkout')) - before.checkout
  const backfill = (await flowMetric(app, 'flow_grants_total', 'backfill')) - before.backfill
  flooding = false
  await Promise.all(workers)
  const ratio = checkout / backfill
  assert.ok(ratio >= 3 * 0.85 && ratio <= 3 * 1.15, `checkout got ${checkout} turns to backfill's ${backfill}`)
})

test('a flood of patches is refused at once with E_QUOTA_EXHAUSTED, and the rest is what the quota serves in time', async (t) => {
  const deadlineMs = 1_000
  const { app, simulator } = await startTestApp(t, { env: { AIFI_MAX_RPS: '20', REQUEST_DEADLINE_MS: String(deadlineMs) } })
  const refused = await assertFloodRefusedAtOnce([app], simulator, deadlineMs)
  assert.ok((await flowMetric(app, 'flow_refusals_total', 'tester')) >= refused.length)
})

test('a waiter that gives up gives its place back: the next turn is its flow’s next request, not a slot left empty', async () => {
  await assertWaiterGivesPlaceBack(oneProcessQuota({ burst: 1 }))
})

test('a request whose turn cannot come in time is refused before it queues, unless something else would carry it', async () => {
  await assertRefusesBeforeQueueing(oneProcessQuota())
})

test('the turns a process already awaits are weighed against its own store’s burst', async () => {
  const dueSoon = () => ({ flow: 'a', tokens: 2, deadlineAt: Date.now() + 500 })
  const nineTurnsAhead = { turnsAhead: 9, needsTurnOfItsOwn: async () => true }
  // 400 ms to its latest start serve 8 calls at the rate plus the burst; nine turns ahead are 18 calls.
  assert.equal((await oneProcessQuota({ burst: 4 }).refuseAtOnce(dueSoon(), nineTurnsAhead))?.type, 'E_QUOTA_EXHAUSTED')
  assert.equal(await oneProcessQuota({ burst: 12 }).refuseAtOnce(dueSoon(), nineTurnsAhead), undefined)
})

test('forward mode: made-up tokens share one flow, so a caller AiFi accepts is served beside their flood', async (t) => {
  const { app, simulator } = await startTestApp(t, { auth: 'forward', env: { AIFI_MAX_RPS: '50' } })
  const real = { headers: { authorization: `Bearer ${simulator.token}` } }
  const id = simulator.seededSessionIds[0]!
  // AiFi accepts the real token once: from then on its caller is a flow of its own.
  assert.equal((await patchSession(app, id, { metadata: { warm: true } }, real)).statusCode, 200)

  const answered: string[] = []
  const junk = Array.from({ length: 40 }, (_, i) =>
    patchSession(app, simulator.createSession({}).sessionId!, { metadata: { i } }, { headers: { authorization: `Bearer made-up-${i}` } }).then(
      (response) => void answered.push(`junk:${response.statusCode}`),
    ),
  )
  await until(async () => (await app.inject('/metrics')).body.includes('aifi_proxy_flow_waiting{flow="forwarded"} '))
  for (let n = 0; n < 3; n++) {
    const response = await patchSession(app, id, { metadata: { n } }, real)
    answered.push(`real:${response.statusCode}`)
  }
  await Promise.all(junk)
  assert.deepEqual(answered.filter((label) => label.startsWith('real')), ['real:200', 'real:200', 'real:200'])
  assert.ok(answered.indexOf('real:200') < answered.lastIndexOf('junk:401') || !answered.includes('junk:401'))
  assert.ok(answered.lastIndexOf('real:200') < answered.length - 10, `the real caller waited for the flood: ${answered.join(' ')}`)
})
