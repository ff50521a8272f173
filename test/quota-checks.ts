import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import type { ProxyError } from '../src/errors.ts'
import type { FairQuota } from '../src/quota/quota.ts'
import type { Simulator } from '../src/simulator/simulator.ts'
import { patchSession } from './helper.ts'

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
 * with 503 E_QUOTA_EXHAUSTED and a Retry-After, not after waiting for its deadline. Resolves with how many were refused.
 */
export async function assertFloodRefusedAtOnce(apps: FastifyInstance[], simulator: Simulator, deadlineMs: number): Promise<number> {
  const sessions = Array.from({ length: 400 }, () => simulator.createSession({}).sessionId!)
  const answers = await Promise.all(
    sessions.map(async (id, i) => {
      const sentAt = performance.now()
      const response = await patchSession(apps[i % apps.length]!, id, { metadata: { flood: true } })
      return { response, ms: performance.now() - sentAt }
    }),
  )
  const accepted = answers.filter(({ response }) => response.statusCode === 200)
  const refused = answers.filter(({ response }) => response.statusCode !== 200)
  for (const { response } of refused) {
    assert.equal(response.statusCode, 503)
    assert.equal(response.json().type, 'E_QUOTA_EXHAUSTED', 'a wait for the quota is never answered as anything else')
    assert.ok(Number(response.headers['retry-after']) >= 1)
  }
  assert.ok(accepted.length >= 8 && accepted.length <= 14, `${accepted.length} accepted`)
  // Up front: a wait given up for its deadline ends at its latest start, 100 ms before the deadline, or later. How
  // soon the refusals come on this machine is the bench's to measure (scenario 9, flood refusals), not a test's.
  const slowest = Math.max(...refused.map(({ ms }) => ms))
  assert.ok(slowest < deadlineMs * 0.75, `slowest refusal ${Math.round(slowest)} ms`)
  return refused.length
}
