import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import type { ProxyError } from '../src/errors.ts'
import type { FairQuota } from '../src/quota/quota.ts'
import type { Simulator } from '../src/simulator/simulator.ts'
import { patchSession, until } from './helper.ts'

/** A per-flow metric of the app's /metrics, 0 while the flow has none. */
export async function flowMetric(app: FastifyInstance, metric: string, flow: string): Promise<number> {
  const text = (await app.inject('/metrics')).body
  const match = new RegExp(`^aifi_proxy_${metric}\\{flow="${flow}"\\} (\\S+)$`, 'm').exec(text)
  return match === null ? 0 : Number(match[1])
}

/**
 * The give-back check shared by the one-process scheduler and the cluster's schedule, on a quota of 20 calls a
 * second with a burst of one: a1 takes the burst. a2's turn cannot come before its deadline, so it leaves at once
 * and gives its place back: a3 moves up beside b2 (and, tied, goes first), instead of after it as if a2 had been
 * served.
 */
export async function assertWaiterGivesPlaceBack(quota: Pick<FairQuota, 'reserve'>): Promise<void> {
  const now = Date.now()
  const granted: string[] = []
  const ask = (label: string, flow: string, deadlineAt: number) =>
    quota.reserve({ flow, tokens: 1, deadlineAt }).then(
      () => void granted.push(label),
      (error: ProxyError) => void granted.push(`${label}:${error.type}`),
    )
  const later = now + 5_000
  await Promise.all([ask('a1', 'a', later), ask('a2', 'a', now + 120), ask('a3', 'a', later), ask('b1', 'b', later), ask('b2', 'b', later), ask('b3', 'b', later)])
  assert.deepEqual(granted.filter((label) => label.includes(':')), ['a2:E_QUOTA_EXHAUSTED'])
  assert.deepEqual(
    granted.filter((label) => !label.includes(':')),
    ['a1', 'b1', 'a3', 'b2', 'b3'],
  )
}

/**
 * Sends 400 patches to 400 sessions at once, spread over the apps, at 20 calls a second and a deadline of
 * `deadlineMs` (1 s): about ten cycles of two calls fit, plus the burst. Every other patch is refused up front,
 * with 503 E_QUOTA_EXHAUSTED and a Retry-After, not after waiting for its deadline, and nothing of it is written.
 * Resolves with the sessions refused.
 */
export async function assertFloodRefusedAtOnce(apps: FastifyInstance[], simulator: Simulator, deadlineMs: number): Promise<string[]> {
  const sessions = Array.from({ length: 400 }, () => simulator.createSession({}).sessionId!)
  const answers = await Promise.all(
    sessions.map(async (id, i) => {
      const sentAt = performance.now()
      const response = await patchSession(apps[i % apps.length]!, id, { metadata: { flood: true } })
      return { id, response, ms: performance.now() - sentAt }
    }),
  )
  const accepted = answers.filter(({ response }) => response.statusCode === 200)
  const refused = answers.filter(({ response }) => response.statusCode !== 200)
  for (const { response } of refused) {
    assert.equal(response.statusCode, 503)
    assert.equal(response.json().type, 'E_QUOTA_EXHAUSTED', 'a wait for the quota is never answered as anything else')
    assert.ok(Number(response.headers['retry-after']) >= 1)
  }
  // The quota serves about eleven in time: two cycles from the burst, then one every 100 ms to the latest start.
  // Never more; a loaded machine that runs its grants late serves a few fewer.
  assert.ok(accepted.length >= 6 && accepted.length <= 14, `${accepted.length} accepted`)
  // Up front: a wait given up for its deadline ends at its latest start, 100 ms before the deadline, or later. How
  // soon the refusals come on this machine is the bench's to measure (scenario 9, flood refusals), not a test's.
  const slowest = Math.max(...refused.map(({ ms }) => ms))
  assert.ok(slowest < deadlineMs * 0.75, `slowest refusal ${Math.round(slowest)} ms`)
  for (const { id, response } of answers) {
    const written = (simulator.getSession(id)!.metadata as { flood?: boolean }).flood === true
    assert.equal(written, response.statusCode === 200, 'what was accepted is written, and nothing of what was refused')
  }
  return refused.map(({ id }) => id)
}

/**
 * The refusal before queueing, on a quota of 20 calls a second and its default burst of 4: a request whose turn
 * can come in time is let through without asking anything more. It is hopeless, refused at once and booking
 * nothing, when nothing else would carry it (`needsTurnOfItsOwn`), and let through when something would: once the
 * turns this process will ask for ahead of it take every call allowed before its latest start (eleven cycles
 * ahead of one due in 0.5 s), before the quota has heard of them; and once twelve cycles of its flow wait in the
 * quota (the burst serves two, the rest take 1 s).
 */
export async function assertRefusesBeforeQueueing(quota: Pick<FairQuota, 'reserve' | 'refuseAtOnce'>): Promise<void> {
  const asked: boolean[] = []
  const ahead = (turnsAhead: number, ownTurn: boolean) => ({
    turnsAhead,
    needsTurnOfItsOwn: async () => {
      asked.push(ownTurn)
      return ownTurn
    },
  })
  const dueSoon = () => ({ flow: 'a', tokens: 2, deadlineAt: Date.now() + 500 })
  assert.equal(await quota.refuseAtOnce(dueSoon(), ahead(3, true)), undefined)
  assert.deepEqual(asked, [], 'a request whose turn can come in time is not refused, and nothing more is asked')

  // 400 ms to its latest start: 8 calls at the rate plus 4 of the burst; eleven turns ahead are 22 calls.
  assert.equal((await quota.refuseAtOnce(dueSoon(), ahead(11, true)))?.type, 'E_QUOTA_EXHAUSTED')
  assert.equal(await quota.refuseAtOnce(dueSoon(), ahead(11, false)), undefined)
  assert.deepEqual(asked, [true, false])

  const later = Date.now() + 5_000
  const queued = Array.from({ length: 12 }, () => quota.reserve({ flow: 'a', tokens: 2, deadlineAt: later }).catch(() => 'refused'))
  // Once the twelve wait where the quota judges from (Redis's schedule hears of them a round trip later).
  await until(async () => (await quota.refuseAtOnce(dueSoon(), ahead(0, false))) === undefined && asked.length > 2)
  const refusal = await quota.refuseAtOnce(dueSoon(), ahead(0, true))
  assert.equal(refusal?.type, 'E_QUOTA_EXHAUSTED')
  assert.ok(Number(refusal.headers['retry-after']) >= 1, 'told when to come back')
  // Nothing was booked for the refused: every one of the twelve is still served.
  assert.ok((await Promise.all(queued)).every((waited) => typeof waited === 'number'))
}
