import type { Upstream } from '../aifi/upstream.ts'
import { ProxyError } from '../errors.ts'
import { computeEtag } from '../merge/index.ts'
import type { FairQuota } from '../quota/quota.ts'
import { callContextOf, type RequestContext } from '../request-context.ts'
import type { Session } from '../schemas.ts'
import { planBatch } from './batch-plan.ts'
import type { Drainer } from './drainer.ts'
import type { PatchRecord } from './patch-record.ts'
import type { PatchResult } from './settlement.ts'

export type SessionService = ReturnType<typeof createSessionService>

/**
 * What the routes call: reads, dry runs, and patches through the session's inbox. Failures leave here as the
 * caller's ProxyError (classified where AiFi was called), so the routes only translate to HTTP.
 */
export function createSessionService(deps: { upstream: Upstream; quota: Pick<FairQuota, 'reserve'>; drainer: Drainer }) {
  const { upstream, quota, drainer } = deps

  async function readSession(sessionId: string, context: RequestContext): Promise<Session> {
    await quota.reserve({ flow: context.flow, tokens: 1, deadlineAt: context.deadline.expiresAt })
    const session = await upstream.readSession(sessionId, callContextOf(context))
    if (session === undefined) throw new ProxyError('E_SESSION_NOT_FOUND')
    return session
  }

  /** A dry run reads and merges like a write would, outside the inbox, and sends nothing. */
  async function previewPatch(record: PatchRecord, context: RequestContext): Promise<PatchResult> {
    const session = await readSession(record.sessionId, context)
    const plan = planBatch(session, [{ body: record.body, ifMatch: record.ifMatch ?? undefined, checkIfMatch: true }])
    const verdict = plan.verdicts[0]!
    if (verdict.kind === 'reject') throw verdict.error
    return { session: plan.preview, etag: computeEtag(plan.preview.metadata), mergeResult: 'dry-run' }
  }

  return {
    async readSession(sessionId: string, context: RequestContext) {
      const session = await readSession(sessionId, context)
      return { session, etag: computeEtag(session.metadata) }
    },

    patchSession: (record: PatchRecord, context: RequestContext, dryRun: boolean): Promise<PatchResult> =>
      dryRun ? previewPatch(record, context) : drainer.submit(record, { authorization: context.caller.authorization, trace: context.trace }),
  }
}
