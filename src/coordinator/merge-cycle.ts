import type { FastifyBaseLogger } from 'fastify'
import { backoffMs, type RetryPolicy } from '../aifi/retry.ts'
import type { Upstream } from '../aifi/upstream.ts'
import { earliestDeadline, type Clock } from '../deadline.ts'
import { ProxyError } from '../errors.ts'
import type { Metrics } from '../metrics.ts'
import type { PatchContext } from '../request-context.ts'
import type { CycleTrace, Tracing } from '../tracing/tracing.ts'
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
  /** A span per cycle, parent of its upstream calls (docs/operations.md#traces). */
  tracing: Tracing
}

/** One session's waiting patches, as the queue offers them to the cycle. */
export interface BatchSource {
  /** The oldest waiting patch: its deadlines bound the wait for the turn, its credentials are the batch's. */
  head(): PatchContext | undefined
  /** Takes up to `count` patches (MAX_BATCH by default) in arrival order, ending their wait for a turn. */
  take(count?: number): PatchContext[]
}

export type RunBatch = (source: BatchSource) => Promise<Map<PatchContext, Settlement>>

/** A batch the shared inbox took from Redis, with its lease and tokens already held (src/redis/shared-inbox.ts). */
export interface TakenBatch {
  patches: PatchContext[]
  lease: LockLease
  /** Where a re-run of this batch takes its lease. */
  lock: SessionLock
  /** Patches a crashed holder's write may already have carried: their If-Match is not judged again. */
  mayHaveLanded: ReadonlySet<PatchContext>
  turnWaitMs: number
  quotaWaitMs: number
}

export interface MergeCycle {
  /** One batch from an in-process queue: turn, lock and tokens, then the batch is taken and run. */
  runBatch: RunBatch
  /** A batch that is already taken, with its lease and its first attempt's tokens. */
  runTaken(taken: TakenBatch): Promise<Map<PatchContext, Settlement>>
}

type Settled = Array<[PatchContext, Settlement]>

/**
 * The read-merge-write cycle for one batch of one session's patches (docs/consistency.md#the-merge-cycle): turn,
 * lock, tokens, then the batch is taken (late binding: every patch that arrived while the cycle waited joins it),
 * read, plan, write, verify. What each outcome means is decided by decideAttempt; this loop only acts on it.
 */
export function createMergeCycle(deps: MergeCycleDeps): MergeCycle {
  const { upstream, metrics, retryPolicy, clock, tracing } = deps
  const writeVerified = createVerifiedWrite(deps)

  async function runBatch(source: BatchSource) {
    const settlements = new Map<PatchContext, Settlement>()
    const settle = (settled: Settled) => settled.forEach(([patch, settlement]) => settlements.set(patch, settlement))
    for (let head = source.head(); head !== undefined; head = source.head()) {
      let lease: LockLease | undefined
      try {
        lease = await deps.lock.acquire(head.sessionId, Math.min(head.deadline.remainingMs(), head.turnDeadline.remainingMs()))
      } catch (error) {
        settle(settleAll(source.take(), error))
        break
      }
      if (lease === undefined) {
        // The head's turn ran out; unless its own timer already answered it, this does. The next head tries anew.
        if (source.head() === head) settle(settleAll(source.take(1), new ProxyError('E_LOCK_TIMEOUT')))
        continue
      }
      const turnWaitMs = clock.now() - head.receivedAt
      const askedForTokens = clock.now()
      try {
        await upstream.reserveCycle(head)
      } catch (error) {
        settle(settleAll(source.take(), error))
        await lease.release()
        break
      }
      const quotaWaitMs = clock.now() - askedForTokens
      const patches = source.take()
      if (patches.length === 0) {
        // Every patch's wait for its turn ran out during the token wait, and each has had its answer.
        await lease.release()
        break
      }
      const ran = await runTaken({ patches, lease, lock: deps.lock, mayHaveLanded: new Set(), turnWaitMs, quotaWaitMs })
      ran.forEach((settlement, patch) => settlements.set(patch, settlement))
      break
    }
    return settlements
  }

  async function runTaken(taken: TakenBatch) {
    const { patches } = taken
    const settlements = new Map<PatchContext, Settlement>()
    const settle = (settled: Settled) => settled.forEach(([patch, settlement]) => settlements.set(patch, settlement))
    const cycle = tracing.startCycle()
    cycle.waited('turn', taken.turnWaitMs)
    cycle.waited('quota', taken.quotaWaitMs)
    cycle.serve(patches)
    metrics.batchSize.observe(patches.length)
    for (const patch of patches) metrics.lockWait.observe((clock.now() - patch.receivedAt) / 1000)
    try {
      await run({ ...startCycle(patches), mayHaveLanded: taken.mayHaveLanded }, settle, cycle, taken.lock, taken.lease)
    } finally {
      cycle.end(settlements)
    }
    return settlements
  }

  return { runBatch, runTaken }

  /** Runs a cycle to the end. `held`: the first attempt's lease, with its tokens already reserved. */
  async function run(start: CycleState, settle: (settled: Settled) => void, cycle: CycleTrace, lock: SessionLock, held?: LockLease): Promise<void> {
    let state = start
    while (state.pending.length > 0) {
      const { pending } = state
      const deadline = earliestDeadline(pending.map((patch) => patch.deadline))
      const prepaid = held !== undefined
      let lease = held
      held = undefined
      const asked = clock.now()
      try {
        lease ??= await lock.acquire(pending[0]!.sessionId, deadline.remainingMs())
      } catch (error) {
        return settle(settleAll(pending, error))
      }
      if (!prepaid) cycle.waited('turn', clock.now() - asked)
      if (lease === undefined) return settle(settleAll(pending, new ProxyError('E_LOCK_TIMEOUT')))

      let decision
      try {
        // The first caller's context goes upstream (its request id, its credentials), bounded by the batch's deadline,
        // under the cycle's span.
        decision = await attempt(state, lease, { ...pending[0]!, deadline, trace: cycle.parent }, cycle, prepaid)
      } catch (error) {
        decision = { settled: settleAll(pending, error), next: { kind: 'done' as const } }
      } finally {
        await lease.release()
      }
      settle(decision.settled)
      const { next } = decision
      if (next.kind === 'done') return
      if (next.kind === 'one-by-one') {
        for (const single of next.states) await run(single, settle, cycle, lock)
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

  async function attempt(state: CycleState, lease: LockLease, context: PatchContext, cycle: CycleTrace, prepaid: boolean) {
    if (!prepaid) {
      const asked = clock.now()
      await upstream.reserveCycle(context)
      cycle.waited('quota', clock.now() - asked)
    }
    const session = await upstream.readSession(context.sessionId, context, true)
    if (session === undefined) return { settled: settleAll(state.pending, new ProxyError('E_SESSION_NOT_FOUND')), next: { kind: 'done' as const } }
    const plan = planBatch(session, plannedPatches(state))
    let step: WriteStep = { kind: 'nothing-to-write' }
    if (plan.write !== undefined) {
      // The lease may have expired or been taken during the read: another replica could be writing now.
      const writing = appliedPatches(state, plan)
      step = (await lease.confirm(writing)) ? await writeVerified(plan, writing, context) : { kind: 'lease-lost' }
    }
    return decideAttempt(state, session, plan, step, retryPolicy.retries)
  }
}
