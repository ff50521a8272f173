import { mapUpstreamFailure, type AuthMode } from '../aifi/upstream-failure.ts'
import type { Upstream } from '../aifi/upstream.ts'
import { createDeadline } from '../deadline.ts'
import { ProxyError } from '../errors.ts'
import { computeEtag } from '../merge/index.ts'
import type { Session, SessionPatchBody } from '../schemas.ts'
import { planBatch } from './batch-plan.ts'
import type { Caller, PatchResult } from './pending-patch.ts'
import type { SessionQueues } from './session-queues.ts'

export interface PatchRequest {
  sessionId: string
  body: SessionPatchBody
  ifMatch: string | undefined
  dryRun: boolean
  caller: Caller
  requestId: string
}

export type SessionService = ReturnType<typeof createSessionService>

/** What the routes call: reads, dry runs, and patches through the per-session queue. */
export function createSessionService(deps: {
  upstream: Upstream
  queues: SessionQueues
  authMode: AuthMode
  requestDeadlineMs: number
  lockWaitMs: number
}) {
  const { upstream, queues, authMode } = deps

  /** Failures leave here already mapped to the catalogue, so the routes only translate to HTTP. */
  async function mapped<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (error) {
      throw mapUpstreamFailure(error, authMode) ?? error
    }
  }

  async function read(sessionId: string, caller: Caller, requestId: string): Promise<Session> {
    const deadline = createDeadline(deps.requestDeadlineMs)
    const session = await upstream.readSession(sessionId, { authorization: caller.authorization, requestId, deadline }, false)
    if (session === undefined) throw new ProxyError('E_SESSION_NOT_FOUND')
    return session
  }

  return {
    read: (sessionId: string, caller: Caller, requestId: string) =>
      mapped(async () => {
        const session = await read(sessionId, caller, requestId)
        return { session, etag: computeEtag(session.metadata) }
      }),

    patch: (request: PatchRequest): Promise<PatchResult> =>
      mapped(async () => {
        if (request.dryRun) return preview(request)
        return queues.enqueue({
          sessionId: request.sessionId,
          body: request.body,
          ifMatch: request.ifMatch,
          caller: request.caller,
          requestId: request.requestId,
          deadline: createDeadline(deps.requestDeadlineMs),
          turnDeadline: createDeadline(deps.lockWaitMs),
          enqueuedAt: performance.now(),
          writeAttempted: false,
        })
      }),
  }

  /** A dry run reads and merges like a write would, outside the queue, and sends nothing. */
  async function preview(request: PatchRequest): Promise<PatchResult> {
    const session = await read(request.sessionId, request.caller, request.requestId)
    const plan = planBatch(session, [{ body: request.body, ifMatch: request.ifMatch, checkIfMatch: true }])
    const verdict = plan.verdicts[0]!
    if (verdict.kind === 'reject') throw verdict.error
    return { session: plan.preview, etag: computeEtag(plan.preview.metadata), mergeResult: 'dry-run' }
  }
}
