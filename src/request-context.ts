import { randomUUID } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { TraceParent, UpstreamCallContext } from './aifi/upstream-call.ts'
import type { PatchRecord } from './coordinator/patch-record.ts'
import { createDeadline, type Clock, type Deadline } from './deadline.ts'
import type { SessionPatchBody } from './schemas.ts'

export interface Caller {
  /** The key's name in service mode, `forwarded` in forward mode. Logged; never a secret. */
  name: string
  /** The Authorization header sent to AiFi for this caller. */
  authorization: string
  /** Scopes Idempotency-Keys and shared writes: the key's name, or a digest of the forwarded credentials. */
  scope: string
}

/** A request as the edge sees it, built once: who asks, its one overall deadline, and its span. */
export interface RequestContext {
  requestId: string
  caller: Caller
  /** The request's one overall time budget (docs/consistency.md#deadlines). */
  deadline: Deadline
  /** What AiFi calls made for this request are children of (docs/operations.md#traces); unset while tracing is off. */
  trace: TraceParent | undefined
  /** Whose share of AiFi's quota its calls wait in (src/quota/flows.ts). */
  flow: string
}

export interface IdempotencyClaim {
  /** Whose bound the kept answer counts against (Caller.scope): one caller never evicts another's answers. */
  callerScope: string
  /** The key, scoped to the caller: two callers never see each other's answers. */
  scopedKey: string
  /** Identifies the request (session id, query and body bytes): the same key with another one is a mismatch. */
  fingerprint: string
}

/** The AiFi call a request makes for itself (a read, a dry run): its own id, credentials, deadline and span. */
export function callContextOf(context: RequestContext): UpstreamCallContext {
  const { requestId, caller, deadline, trace, flow } = context
  return { requestId, authorization: caller.authorization, deadline, trace, flow }
}

export type ContextFactory = ReturnType<typeof createContextFactory>

/** Starts each request's deadlines on the app's clock, from the configured budgets, and takes its span. */
export function createContextFactory(options: {
  requestDeadlineMs: number
  lockWaitMs: number
  clock: Clock
  traceOf: (request: FastifyRequest) => TraceParent | undefined
  flowOf: (caller: Caller) => string
}) {
  const { requestDeadlineMs, lockWaitMs, clock, traceOf, flowOf } = options
  const forRequest = (request: FastifyRequest, caller: Caller): RequestContext => ({
    requestId: request.id,
    caller,
    deadline: createDeadline(requestDeadlineMs, clock.now),
    trace: traceOf(request),
    flow: flowOf(caller),
  })
  return {
    forRequest,
    /** The request's context, and its patch as a record the inboxes hold. */
    forPatch(request: FastifyRequest, caller: Caller, patch: { sessionId: string; body: SessionPatchBody; ifMatch: string | undefined }) {
      const context = forRequest(request, caller)
      const receivedAt = clock.now()
      const record: PatchRecord = {
        id: randomUUID(),
        sessionId: patch.sessionId,
        caller: caller.name,
        scope: caller.scope,
        flow: context.flow,
        requestId: request.id,
        body: patch.body,
        ifMatch: patch.ifMatch ?? null,
        receivedAt,
        turnAt: Math.min(receivedAt + lockWaitMs, context.deadline.expiresAt),
        deadlineAt: context.deadline.expiresAt,
      }
      return { context, record }
    },
  }
}
