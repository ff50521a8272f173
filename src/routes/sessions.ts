import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { SessionService } from '../coordinator/session-service.ts'
import type { PatchResult } from '../coordinator/settlement.ts'
import { ProxyError, fieldError } from '../errors.ts'
import type { Authenticate } from '../http/auth.ts'
import { errorResponses } from '../http/error-responses.ts'
import { readIdempotencyClaim, runIdempotently, sendReplay } from '../http/idempotency.ts'
import { ACCEPT_PATCH } from '../http/json-body-parser.ts'
import type { IdempotencyStore } from '../idempotency/idempotency-store.ts'
import { exceedsDepth, hasReservedKey } from '../merge/index.ts'
import type { Metrics } from '../metrics.ts'
import type { Caller, ContextFactory } from '../request-context.ts'
import { SESSIONS_PATH, sessionPatchBodySchema, sessionSchema, type SessionPatchBody } from '../schemas.ts'

const SESSION_PATH = `${SESSIONS_PATH}/:sessionId`

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null
  }
}

export interface SessionRoutesOptions {
  service: SessionService
  contexts: ContextFactory
  authenticate: Authenticate
  metrics: Metrics
  idempotency: IdempotencyStore
  maxDepth: number
}

const DOT_SEGMENTS = new Set(['', '.', '..'])

// Read by the tracing plugin on these routes only (docs/operations.md#traces).
const TRACE_CONTEXT = ['traceparent', 'tracestate'] as const
// What Swagger UI's "Try it out" sends: a small merge, never the fraud flag, which can only be raised.
const SAFE_PATCH_EXAMPLE = { metadata: { loyalty: { tier: 'gold' } } }

const paramsSchema = z.object({ sessionId: z.string() })
const patchQuerySchema = z.object({
  // Case-sensitive on purpose: `?dryRun` alone or `?dryRun=TRUE` is a mistake worth a 400.
  dryRun: z.enum(['true', 'false']).optional(),
})

/** The drop-in AiFi routes. Auth lives in this scope only, after the session-id check (docs/http-api.md#session-ids). */
export async function sessionRoutes(app: FastifyInstance, options: SessionRoutesOptions): Promise<void> {
  const { service, contexts, authenticate, metrics, idempotency, maxDepth } = options
  const routes = app.withTypeProvider<ZodTypeProvider>()

  app.decorateRequest('caller', null)
  app.addHook('onRequest', async (request) => {
    const { sessionId } = request.params as { sessionId?: string }
    // `.` and `..` (raw or percent-encoded: the router has decoded them) would change the upstream path.
    if (sessionId === undefined || DOT_SEGMENTS.has(sessionId)) throw new ProxyError('E_SESSION_NOT_FOUND')
    request.caller = authenticate(request)
  })

  routes.get(
    SESSION_PATH,
    {
      schema: {
        operationId: 'getSession',
        tags: ['sessions'],
        summary: 'Read a session with the ETag of its metadata (for If-Match)',
        params: paramsSchema,
        response: { 200: sessionSchema, ...errorResponses(401, 404, 502, 503, 504) },
        openapi: { requestHeaders: TRACE_CONTEXT, responseHeaders: { 200: ['ETag', 'Accept-Patch'] } },
      },
    },
    async (request, reply) => {
      const context = contexts.forRequest(request, request.caller!)
      const { session, etag } = await service.readSession(request.params.sessionId, context)
      metrics.requests.inc({ outcome: 'read' })
      return reply.header('etag', etag).header('accept-patch', ACCEPT_PATCH).send(session)
    },
  )

  routes.patch(
    SESSION_PATH,
    {
      schema: {
        operationId: 'patchSession',
        tags: ['sessions'],
        summary: "Merge a partial metadata update into a session (RFC 7396), keeping AiFi's events",
        params: paramsSchema,
        querystring: patchQuerySchema,
        body: sessionPatchBodySchema,
        response: { 200: sessionSchema, ...errorResponses(400, 401, 404, 409, 412, 413, 415, 422, 502, 503, 504) },
        openapi: {
          requestHeaders: ['If-Match', 'Idempotency-Key', ...TRACE_CONTEXT],
          responseHeaders: { 200: ['ETag', 'X-Merge-Result', 'Idempotency-Replayed', 'Accept-Patch'] },
          requestExample: SAFE_PATCH_EXAMPLE,
        },
      },
      preValidation: requireContentType,
    },
    async (request, reply) => {
      checkMetadataPatch(request.body, maxDepth)
      const caller = request.caller!
      const { context, record } = contexts.forPatch(request, caller, {
        sessionId: request.params.sessionId,
        body: request.body,
        ifMatch: request.headers['if-match'],
      })
      const dryRun = request.query.dryRun === 'true'
      const claim = readIdempotencyClaim(request, caller, dryRun)
      const outcome = await runIdempotently(idempotency, claim, request.log, () => service.patchSession(record, context, dryRun))
      if (outcome.kind === 'replay') {
        metrics.requests.inc({ outcome: 'replayed' })
        return sendReplay(reply, outcome.response)
      }
      return sendPatchResult(reply, outcome.result, metrics)
    },
  )
}

/** A PATCH without a body skips fastify's parser, so its missing Content-Type is caught here (docs/http-api.md#content-types). */
function requireContentType(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  done(request.headers['content-type'] === undefined ? new ProxyError('E_UNSUPPORTED_MEDIA_TYPE') : undefined)
}

function checkMetadataPatch(body: SessionPatchBody, maxDepth: number): void {
  if (body.metadata === undefined) return
  if (exceedsDepth(body.metadata, maxDepth)) {
    const errors = [fieldError('/metadata', `must nest at most ${maxDepth} levels`, 'object.depth')]
    throw new ProxyError('E_INVALID_BODY', { message: 'metadata is nested too deeply', errors })
  }
  if (hasReservedKey(body.metadata)) {
    throw new ProxyError('E_RESERVED_KEY', { errors: [fieldError('/metadata/events', 'is reserved for AiFi', 'key.reserved')] })
  }
}

function sendPatchResult(reply: FastifyReply, result: PatchResult, metrics: Metrics): FastifyReply {
  metrics.requests.inc({ outcome: result.mergeResult === 'dry-run' ? 'dry_run' : result.mergeResult })
  return reply
    .header('etag', result.etag)
    .header('x-merge-result', result.mergeResult)
    .header('accept-patch', ACCEPT_PATCH)
    .send(result.session)
}
