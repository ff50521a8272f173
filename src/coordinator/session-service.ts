import type { Upstream } from '../aifi/upstream.ts'
import { ProxyError } from '../errors.ts'
import { computeEtag } from '../merge/index.ts'
import type { PatchContext, RequestContext } from '../request-context.ts'
import type { Session } from '../schemas.ts'
import { planBatch } from './batch-plan.ts'
import type { PatchQueue } from './session-queues.ts'
import type { PatchResult } from './settlement.ts'

export type SessionService = ReturnType<typeof createSessionService>

/**
 * What the routes call: reads, dry runs, and patches through the per-session queue. Failures leave here as the
 * caller's ProxyError (classified where AiFi was called), so the routes only translate to HTTP.
 */
export function createSessionService(deps: { upstream: Upstream; queues: PatchQueue }) {
  const { upstream, queues } = deps

  async function readSession(sessionId: string, context: RequestContext): Promise<Session> {
    const session = await upstream.readSession(sessionId, context, false)
    if (session === undefined) throw new ProxyError('E_SESSION_NOT_FOUND')
    return session
  }

  /** A dry run reads and merges like a write would, outside the queue, and sends nothing. */
  async function previewPatch(context: PatchContext): Promise<PatchResult> {
    const session = await readSession(context.sessionId, context)
    const plan = planBatch(session, [{ body: context.body, ifMatch: context.ifMatch, checkIfMatch: true }])
    const verdict = plan.verdicts[0]!
    if (verdict.kind === 'reject') throw verdict.error
    return { session: plan.preview, etag: computeEtag(plan.preview.metadata), mergeResult: 'dry-run' }
  }

  return {
    async readSession(sessionId: string, context: RequestContext) {
      const session = await readSession(sessionId, context)
      return { session, etag: computeEtag(session.metadata) }
    },

    patchSession: (context: PatchContext): Promise<PatchResult> => (context.dryRun ? previewPatch(context) : queues.enqueue(context)),
  }
}
