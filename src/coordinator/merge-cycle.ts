import type { FastifyBaseLogger } from 'fastify'
import { UpstreamHttpError, describeOutcome, isTransient, mapUpstreamFailure, type AuthMode } from '../aifi/upstream-failure.ts'
import type { Upstream, UpstreamContext } from '../aifi/upstream.ts'
import { earliestDeadline, type Deadline } from '../deadline.ts'
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
}

/** What one read-merge-write attempt decided: settled patches, and those that need another cycle. */
interface AttemptOutcome {
  settled: Array<[PendingPatch, Settlement]>
  rerun: PendingPatch[]
  /** AiFi rejected a batched write: re-run the patches one at a time so only the offending caller fails. */
  split: boolean
}

export type RunBatch = (patches: PendingPatch[]) => Promise<Map<PendingPatch, Settlement>>

/** The read-merge-write cycle for one batch of one session's patches (SPEC §4). It settles every patch. */
export function createMergeCycle(deps: MergeCycleDeps): RunBatch {
  const { upstream, lock, authMode, logger, metrics } = deps
  const fail = (error: unknown): Settlement => ({ ok: false, error: mapUpstreamFailure(error, authMode) ?? error })

  async function runBatch(patches: PendingPatch[]): Promise<Map<PendingPatch, Settlement>> {
    const settlements = new Map<PendingPatch, Settlement>()
    const sessionId = patches[0]!.sessionId
    metrics.batchSize.observe(patches.length)
    let pending = patches
    let firstTurn = true
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
        outcome = { settled: pending.map((patch) => [patch, fail(error)]), rerun: [], split: false }
      } finally {
        await lease.release()
      }
      for (const [patch, settlement] of outcome.settled) settlements.set(patch, settlement)
      if (outcome.split) {
        for (const patch of outcome.rerun) for (const entry of await runBatch([patch])) settlements.set(...entry)
        break
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
      return { settled: patches.map((patch) => [patch, fail(new ProxyError('E_SESSION_NOT_FOUND'))]), rerun: [], split: false }
    }

    const plan = planBatch(
      session,
      patches.map((patch) => ({ body: patch.body, ifMatch: patch.ifMatch, checkIfMatch: !patch.ifMatchChecked })),
    )
    const settled: Array<[PendingPatch, Settlement]> = []
    const applied: PendingPatch[] = []
    patches.forEach((patch, index) => {
      patch.ifMatchChecked = true
      const verdict = plan.verdicts[index]!
      if (verdict.kind === 'apply') applied.push(patch)
      else settled.push([patch, fail(verdict.error)])
    })
    if (applied.length === 0) return { settled, rerun: [], split: false }

    if (plan.write === undefined) {
      const etag = computeEtag(session.metadata)
      for (const patch of applied) {
        // After an ambiguous write that did land, the re-run finds nothing to change: still `applied` (SPEC §3.1).
        const mergeResult = patch.writeAttempted ? 'applied' : 'noop'
        settled.push([patch, { ok: true, result: { session, etag, mergeResult } }])
      }
      return { settled, rerun: [], split: false }
    }
    // The lease may have expired or been taken during the read: another replica could be writing now.
    if (!(await lease.confirm())) return { settled, rerun: applied, split: false }

    const written = await write(first.sessionId, plan, applied, context)
    if (written.kind === 'rerun') return { settled, rerun: applied, split: written.split }
    for (const patch of applied) settled.push([patch, written.settlement])
    return { settled, rerun: [], split: false }
  }

  async function write(
    upstreamId: string,
    plan: BatchPlan,
    applied: PendingPatch[],
    context: UpstreamContext,
  ): Promise<{ kind: 'settled'; settlement: Settlement } | { kind: 'rerun'; split: boolean }> {
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
      const rejected = error instanceof UpstreamHttpError && (error.status === 400 || error.status === 422)
      audit(rejected ? 'rejected' : 'failed', describeOutcome(error))
      if (isTransient(error)) {
        for (const patch of applied) patch.writeAttempted = true
        return { kind: 'rerun', split: false }
      }
      if (rejected && applied.length > 1) return { kind: 'rerun', split: true }
      return { kind: 'settled', settlement: fail(error) }
    }

    const mismatches =
      body.metadata === undefined
        ? []
        : findWriteMismatches({
            written: body.metadata,
            returned: response.metadata,
            eventsBefore: plan.eventsBefore,
            eventsPresentBefore: plan.eventsPresentBefore,
          })
    if (mismatches.length > 0) {
      audit('unverified', '200')
      metrics.verificationFailures.inc()
      logger.error({ sessionId: applied[0]!.sessionId, mismatchedPaths: mismatches.slice(0, 50) }, 'AiFi response does not hold what was written')
      const error = new ProxyError('E_UPSTREAM_BAD_RESPONSE', { message: 'AiFi did not confirm the write: its answer does not hold what was written' })
      return { kind: 'settled', settlement: { ok: false, error } }
    }
    audit('applied', '200')
    const result = { session: response, etag: computeEtag(response.metadata), mergeResult: 'applied' as const }
    return { kind: 'settled', settlement: { ok: true, result } }
  }

  return runBatch
}
