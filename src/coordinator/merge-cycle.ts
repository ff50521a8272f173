import type { FastifyBaseLogger } from 'fastify'
import { backoffMs, type RetryPolicy } from '../aifi/retry.ts'
import type { Upstream } from '../aifi/upstream.ts'
import { earliestDeadline, type Clock } from '../deadline.ts'
import { ProxyError } from '../errors.ts'
import type { Metrics } from '../metrics.ts'
import type { PatchContext } from '../request-context.ts'
import { appliedPatches, decideAttempt, plannedPatches, settleAll, startCycle, type CycleState, type WriteStep } from './attempt-decision.ts'
import { planBatch } from './batch-plan.ts'
import type { LockLease, SessionLock } from './session-lock.ts'
import type { Settlement } from './settlement.ts'
import { createVerifiedWrite } from './verified-write.ts'

export interface MergeCycleDeps {
  upstream: Upstream
  lock: SessionLock
  logger: FastifyBaseLogger
  metrics: Metrics
  /** Bounds re-runs after ambiguous writes the way it bounds read retries. */
  retryPolicy: RetryPolicy
  clock: Clock
}

export type RunBatch = (patches: PatchContext[]) => Promise<Map<PatchContext, Settlement>>

/**
 * The read-merge-write cycle for one batch of one session's patches (docs/consistency.md): turn, lock, tokens,
 * read, plan, write, verify. What each outcome means is decided by decideAttempt; this loop only acts on it.
 */
export function createMergeCycle(deps: MergeCycleDeps): RunBatch {
  const { upstream, lock, metrics, retryPolicy, clock } = deps
  const writeVerified = createVerifiedWrite(deps)

  return async function runBatch(patches) {
    metrics.batchSize.observe(patches.length)
    const settlements = new Map<PatchContext, Settlement>()
    await run(startCycle(patches), true, settlements)
    return settlements
  }

  /** `waitingForTurn`: the patches still wait for their session's first turn, which LOCK_WAIT_MS bounds. */
  async function run(start: CycleState, waitingForTurn: boolean, settlements: Map<PatchContext, Settlement>): Promise<void> {
    const settle = (settled: Array<[PatchContext, Settlement]>) => settled.forEach(([patch, settlement]) => settlements.set(patch, settlement))
    let state = start
    while (state.pending.length > 0) {
      const { pending } = state
      const deadline = earliestDeadline(pending.map((patch) => patch.deadline))
      const turnDeadline = waitingForTurn ? earliestDeadline(pending.map((patch) => patch.turnDeadline)) : deadline
      const lease = await lock.acquire(pending[0]!.sessionId, Math.min(deadline.remainingMs(), turnDeadline.remainingMs()))
      if (lease === undefined) return settle(settleAll(pending, new ProxyError('E_LOCK_TIMEOUT')))
      if (waitingForTurn) for (const patch of pending) metrics.lockWait.observe((clock.now() - patch.receivedAt) / 1000)
      waitingForTurn = false

      let decision
      try {
        // The first caller's context goes upstream (its request id, its credentials), bounded by the batch's deadline.
        decision = await attempt(state, lease, { ...pending[0]!, deadline })
      } catch (error) {
        decision = { settled: settleAll(pending, error), next: { kind: 'done' as const } }
      } finally {
        await lease.release()
      }
      settle(decision.settled)
      const { next } = decision
      if (next.kind === 'done') return
      if (next.kind === 'one-by-one') {
        for (const single of next.states) await run(single, false, settlements)
        return
      }
      if (next.kind === 'after-backoff') {
        const waitMs = backoffMs(retryPolicy, next.state.ambiguousWrites - 1, next.failure.retryAfterSeconds)
        if (waitMs >= deadline.remainingMs()) return settle(settleAll(next.state.pending, next.failure.error))
        await clock.delay(waitMs)
      }
      state = next.state
    }
  }

  async function attempt(state: CycleState, lease: LockLease, context: PatchContext) {
    await upstream.reserveCycle(context)
    const session = await upstream.readSession(context.sessionId, context, true)
    if (session === undefined) return { settled: settleAll(state.pending, new ProxyError('E_SESSION_NOT_FOUND')), next: { kind: 'done' as const } }
    const plan = planBatch(session, plannedPatches(state))
    let step: WriteStep = { kind: 'nothing-to-write' }
    if (plan.write !== undefined) {
      // The lease may have expired or been taken during the read: another replica could be writing now.
      step = (await lease.confirm()) ? await writeVerified(plan, appliedPatches(state, plan), context) : { kind: 'lease-lost' }
    }
    return decideAttempt(state, session, plan, step, retryPolicy.retries)
  }
}
