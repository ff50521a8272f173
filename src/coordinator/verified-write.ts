import type { FastifyBaseLogger } from 'fastify'
import type { UpstreamCallContext } from '../aifi/upstream-call.ts'
import type { Upstream } from '../aifi/upstream.ts'
import { ProxyError } from '../errors.ts'
import { findWriteMismatches } from '../merge/index.ts'
import type { Metrics } from '../metrics.ts'
import type { BatchPlan } from './batch-plan.ts'
import type { PatchRecord } from './patch-record.ts'
import { logWriteAudit, type AuditOutcome } from './audit.ts'
import type { WriteStep } from './attempt-decision.ts'

/**
 * Sends a planned write, checks that AiFi's answer holds it (docs/consistency.md#verification), and writes the
 * audit line every upstream PATCH gets, whatever its outcome.
 */
export function createVerifiedWrite(deps: { upstream: Upstream; logger: FastifyBaseLogger; metrics: Metrics }) {
  const { upstream, logger, metrics } = deps

  return async function writeVerified(plan: BatchPlan, applied: PatchRecord[], context: UpstreamCallContext): Promise<WriteStep> {
    const body = plan.write!
    const sessionId = applied[0]!.sessionId
    const started = performance.now()
    const audit = (outcome: AuditOutcome, upstreamStatus: string) =>
      logWriteAudit(logger, {
        sessionId,
        patches: applied,
        eventsKept: plan.eventsPresentBefore,
        fraudRaised: body.suspectedFraud === true,
        outcome,
        upstreamStatus,
        upstreamMs: performance.now() - started,
      })

    const written = await upstream.writeSession(sessionId, body, context)
    if (!written.ok) {
      audit(written.failure.kind === 'rejected' ? 'rejected' : 'failed', written.failure.label)
      return { kind: 'failed', failure: written.failure }
    }

    // A fraud-only write sends no metadata, but the events present before it must still be there after it.
    const verifiable = body.metadata !== undefined || plan.eventsPresentBefore
    const mismatches = verifiable
      ? findWriteMismatches({
          written: body.metadata ?? {},
          // Only a write that carries metadata deletes anything.
          ...(body.metadata !== undefined && plan.metadataBefore !== undefined ? { before: plan.metadataBefore } : {}),
          returned: written.session.metadata,
          eventsBefore: plan.eventsBefore,
          eventsPresentBefore: plan.eventsPresentBefore,
        })
      : []
    if (mismatches.length > 0) {
      audit('unverified', '200')
      metrics.verificationFailures.inc()
      const requestIds = applied.map((patch) => patch.requestId)
      logger.error({ sessionId, requestIds, mismatchedPaths: mismatches.slice(0, 50) }, 'AiFi response does not hold what was written')
      const error = new ProxyError('E_UPSTREAM_BAD_RESPONSE', { message: 'AiFi did not confirm the write: its answer does not hold what was written' })
      return { kind: 'unverified', error }
    }
    audit('applied', '200')
    return { kind: 'written', session: written.session }
  }
}
