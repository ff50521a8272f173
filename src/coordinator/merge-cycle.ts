import type { FastifyBaseLogger } from 'fastify'
import { describeOutcome, isRejection, isTransient, mapUpstreamFailure, type AuthMode } from '../aifi/upstream-failure.ts'
import type { Upstream, UpstreamContext } from '../aifi/upstream.ts'
import { backoffMs, type RetryPolicy } from '../aifi/retry.ts'
import { delay, earliestDeadline, type Deadline } from '../deadline.ts'
import { ProxyError } from '../errors.ts'
import { computeEtag, findWriteMismatches } from '../merge/index.ts'
import type { Metrics } from '../metrics.ts'
import type { Session } from '../schemas.ts'
import { logWriteAudit, type WriteOutcome } from './audit.ts'
import { planBatch, type BatchPlan } from './batch-plan.ts'
import type { PendingPatch, Settlement } from './pending-patch.ts'
import type { LockLease, SessionLock } from './session-lock.ts'

export interface MergeCycleDeps {
  upstream: Upstream
  lock: SessionLock
  authMode: AuthMode
  logger: FastifyBaseLogger
  metrics: Metrics
  /** Bounds re-runs after ambiguous writes the way it bounds read retries (SPEC §4 Retries). */
  retryPolicy: RetryPolicy
}

/**
 * What one read-merge-write attempt decided: settled patches, and those that need another cycle because
 * the lease was lost before the write, a write failed ambiguously, or AiFi rejected a batched write (then
 * the patches run again one at a time, so only the offending caller fails).
 */
interface AttemptOutcome {
  settled: Array<[PendingPatch, Settlement]>
  rerun: PendingPatch[]
  reason?: 'lease-lost' | 'ambiguous-write' | 'rejected-batch'
  /** The ambiguous write failure, answered if no re-run fits in the retries or the deadline. */
  failure?: unknown
}

const done = (settled: Array<[PendingPatch, Settlement]>): AttemptOutcome => ({ settled, rerun: [] })

export type RunBatch = (patches: PendingPatch[]) => Promise<Map<PendingPatch, Settlement>>

/** The read-merge-write cycle for one batch of one session's patches (SPEC §4). It settles every patch. */
export function createMergeCycle(deps: MergeCycleDeps): RunBatch {
  const { upstream, lock, authMode, logger, metrics, retryPolicy } = deps
  const fail = (error: unknown): Settlement => ({ ok: false, error: mapUpstreamFailure(error, authMode) ?? error })

  async function runBatch(patches: PendingPatch[]): Promise<Map<PendingPatch, Settlement>> {
    metrics.batchSize.observe(patches.length)
    return run(patches, true)
  }

  /** `waitingForTurn`: the patches still wait for their session's first turn, which LOCK_WAIT_MS bounds. */
  async function run(patches: PendingPatch[], waitingForTurn: boolean): Promise<Map<PendingPatch, Settlement>> {
    const settlements = new Map<PendingPatch, Settlement>()
    let firstTurn = waitingForTurn
    const sessionId = patches[0]!.sessionId
    let pending = patches
    let ambiguousWrites = 0
    while (pending.length > 0) {
      const deadline = earliestDeadline(pending.map((patch) => patch.deadline))
      const turnDeadline = firstTurn ? earliestDeadline(pending.map((patch) => patch.turnDeadline)) : deadline
      const lease = await lock.acquire(sessionId, Math.min(deadline.remainingMs(), turnDeadline.remainingMs()))
      if (lease === undefined) {
        const error = new ProxyError('E_LOCK_TIMEOUT', { headers: { 'retry-after': '1' } })
        for (const patch of pending) settlements.set(patch, { ok: false, error })
        break
      }
      if (firstTurn) for (const patch of pending) metrics.lockWait.observe((performance.now() - patch.enqueuedAt) / 1000)
      firstTurn = false

      let outcome: AttemptOutcome
      try {
        outcome = await attempt(pending, lease, deadline)
      } catch (error) {
        outcome = done(pending.map((patch) => [patch, fail(error)]))
      } finally {
        await lease.release()
      }
      for (const [patch, settlement] of outcome.settled) settlements.set(patch, settlement)
      if (outcome.reason === 'rejected-batch') {
        for (const patch of outcome.rerun) for (const entry of await run([patch], false)) settlements.set(...entry)
        break
      }
      if (outcome.reason === 'ambiguous-write') {
        // Never a blind re-send: the next cycle reads afresh and merges again, after a backoff.
        const waitMs = backoffMs(retryPolicy, ambiguousWrites, outcome.failure)
        if (++ambiguousWrites > retryPolicy.retries || waitMs >= deadline.remainingMs()) {
          for (const patch of outcome.rerun) settlements.set(patch, fail(outcome.failure))
          break
        }
        await delay(waitMs)
      }
      pending = outcome.rerun
    }
    return settlements
  }

  async function attempt(patches: PendingPatch[], lease: LockLease, deadline: Deadline): Promise<AttemptOutcome> {
    const first = patches[0]!
    const context: UpstreamContext = { authorization: first.caller.authorization, requestId: first.requestId, deadline }
    await upstream.reserveCycle(context)
    const session = await upstream.readSession(first.sessionId, context, true)
    if (session === undefined) {
      return done(patches.map((patch) => [patch, fail(new ProxyError('E_SESSION_NOT_FOUND'))]))
    }

    const plan = planBatch(
      session,
      // If-Match is judged until a write holding the patch may have landed; after that, a re-run must not turn
      // the caller's own landed write into a 412 (SPEC §3.1). A lost lease or a rejected batch sent nothing.
      patches.map((patch) => ({ body: patch.body, ifMatch: patch.ifMatch, checkIfMatch: !patch.writeAttempted })),
    )
    const settled: Array<[PendingPatch, Settlement]> = []
    const applied: PendingPatch[] = []
    // A 412 judged against earlier patches of this batch holds only if those patches land.
    const preconditionFailed: PendingPatch[] = []
    patches.forEach((patch, index) => {
      const verdict = plan.verdicts[index]!
      if (verdict.kind === 'apply') applied.push(patch)
      else if (verdict.error.type === 'E_PRECONDITION_FAILED') preconditionFailed.push(patch)
      else settled.push([patch, fail(verdict.error)])
    })
    const settleFailedPreconditions = () => {
      for (const patch of preconditionFailed) settled.push([patch, fail(new ProxyError('E_PRECONDITION_FAILED'))])
    }
    if (applied.length === 0) {
      settleFailedPreconditions()
      return done(settled)
    }

    if (plan.write === undefined) {
      const etag = computeEtag(session.metadata)
      for (const patch of applied) {
        // After an ambiguous write that did land, the re-run finds nothing to change: still `applied` (SPEC §3.1).
        const mergeResult = patch.writeAttempted ? 'applied' : 'noop'
        settled.push([patch, { ok: true, result: { session, etag, mergeResult } }])
      }
      settleFailedPreconditions()
      return done(settled)
    }
    // The lease may have expired or been taken during the read: another replica could be writing now.
    const inOrder = (subset: PendingPatch[]) => patches.filter((patch) => subset.includes(patch))
    if (!(await lease.confirm())) return { settled, rerun: inOrder([...applied, ...preconditionFailed]), reason: 'lease-lost' }

    const written = await write(first.sessionId, plan, applied, context, patches.length - settled.length)
    if (written.kind === 'rerun' && written.reason === 'rejected-batch') {
      // Nothing landed: every patch, the 412s included, is judged again on its own.
      return { settled, rerun: inOrder([...applied, ...preconditionFailed]), reason: written.reason }
    }
    settleFailedPreconditions()
    if (written.kind === 'rerun') return { settled, rerun: applied, reason: written.reason, failure: written.failure }
    for (const patch of applied) settled.push([patch, written.settlement])
    return done(settled)
  }

  /** `undecided`: the patches whose outcome depends on this write (applied, or 412 against earlier ones). */
  async function write(
    upstreamId: string,
    plan: BatchPlan,
    applied: PendingPatch[],
    context: UpstreamContext,
    undecided: number,
  ): Promise<
    { kind: 'settled'; settlement: Settlement } | { kind: 'rerun'; reason: 'ambiguous-write' | 'rejected-batch'; failure: unknown }
  > {
    const body = plan.write!
    const started = performance.now()
    const audit = (outcome: WriteOutcome, upstreamStatus: string) =>
      logWriteAudit(logger, {
        sessionId: applied[0]!.sessionId,
        patches: applied,
        eventsKept: plan.eventsPresentBefore,
        fraudRaised: body.suspectedFraud === true,
        outcome,
        upstreamStatus,
        upstreamMs: performance.now() - started,
      })

    let response: Session
    try {
      response = await upstream.writeSession(upstreamId, body, context)
    } catch (error) {
      const rejected = isRejection(error)
      audit(rejected ? 'rejected' : 'failed', describeOutcome(error))
      if (isTransient(error)) {
        for (const patch of applied) patch.writeAttempted = true
        return { kind: 'rerun', reason: 'ambiguous-write', failure: error }
      }
      if (rejected && undecided > 1) return { kind: 'rerun', reason: 'rejected-batch', failure: error }
      return { kind: 'settled', settlement: fail(error) }
    }

    // A fraud-only write sends no metadata, but the events present before it must still be there after it.
    const verifiable = body.metadata !== undefined || plan.eventsPresentBefore
    const mismatches = verifiable
      ? findWriteMismatches({
          written: body.metadata ?? {},
          returned: response.metadata,
          eventsBefore: plan.eventsBefore,
          eventsPresentBefore: plan.eventsPresentBefore,
        })
      : []
    if (mismatches.length > 0) {
      audit('unverified', '200')
      metrics.verificationFailures.inc()
      const requestIds = applied.map((patch) => patch.requestId)
      logger.error({ sessionId: applied[0]!.sessionId, requestIds, mismatchedPaths: mismatches.slice(0, 50) }, 'AiFi response does not hold what was written')
      const error = new ProxyError('E_UPSTREAM_BAD_RESPONSE', { message: 'AiFi did not confirm the write: its answer does not hold what was written' })
      return { kind: 'settled', settlement: { ok: false, error } }
    }
    audit('applied', '200')
    const result = { session: response, etag: computeEtag(response.metadata), mergeResult: 'applied' as const }
    return { kind: 'settled', settlement: { ok: true, result } }
  }

  return runBatch
}
