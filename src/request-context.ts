import type { FastifyRequest } from 'fastify'
import { createDeadline, type Clock, type Deadline } from './deadline.ts'
import type { SessionPatchBody } from './schemas.ts'
import type { TraceParent, Tracing } from './tracing/tracing.ts'

export interface Caller {
  /** The key's name in service mode, `forwarded` in forward mode. Logged; never a secret. */
  name: string
  /** The Authorization header sent to AiFi for this caller. */
  authorization: string
  /** Scopes Idempotency-Keys: the key's name, or a digest of the forwarded credentials. */
  scope: string
}

/**
 * What every upstream call made for a request needs, built once by the route and passed along unchanged: a
 * header that must reach AiFi is added here and read where the call is made, and nowhere in between.
 */
export interface RequestContext {
  requestId: string
  caller: Caller
  /** The request's one overall time budget (docs/consistency.md#deadlines). */
  deadline: Deadline
  /** What AiFi calls made for this context are children of (docs/operations.md#traces); unset while tracing is off. */
  trace?: TraceParent
}

/** One caller's patch, from the route through the session queue and the write cycle to its settlement. */
export interface PatchContext extends RequestContext {
  sessionId: string
  body: SessionPatchBody
  ifMatch: string | undefined
  dryRun: boolean
  /** Bounds the wait for the session's turn: queue and lock together (LOCK_WAIT_MS). */
  turnDeadline: Deadline
  /** When the route accepted the patch, on the app's clock: the start of its wait for a turn. */
  receivedAt: number
  /** Set when the request carries an Idempotency-Key (docs/http-api.md#idempotency-key). */
  idempotency: IdempotencyClaim | undefined
  /** The replica holding the caller's connection, when patches are shared through Redis (src/redis/shared-inbox.ts). */
  replica?: string
}

export interface IdempotencyClaim {
  /** Whose bound the kept answer counts against (Caller.scope): one caller never evicts another's answers. */
  callerScope: string
  /** The key, scoped to the caller: two callers never see each other's answers. */
  scopedKey: string
  /** Identifies the request (session id, query and body bytes): the same key with another one is a mismatch. */
  fingerprint: string
}

export type ContextFactory = ReturnType<typeof createContextFactory>

/** Starts each request's deadlines on the app's clock, from the configured budgets, and takes its span. */
export function createContextFactory(options: { requestDeadlineMs: number; lockWaitMs: number; clock: Clock; tracing: Tracing }) {
  const { requestDeadlineMs, lockWaitMs, clock, tracing } = options
  const forRequest = (request: FastifyRequest, caller: Caller): RequestContext => ({
    requestId: request.id,
    caller,
    deadline: createDeadline(requestDeadlineMs, clock.now),
    trace: tracing.traceOf(request),
  })
  return {
    forRequest,
    forPatch: (
      request: FastifyRequest,
      caller: Caller,
      patch: Pick<PatchContext, 'sessionId' | 'body' | 'ifMatch' | 'dryRun' | 'idempotency'>,
    ): PatchContext => ({
      ...forRequest(request, caller),
      ...patch,
      turnDeadline: createDeadline(lockWaitMs, clock.now),
      receivedAt: clock.now(),
    }),
  }
}
