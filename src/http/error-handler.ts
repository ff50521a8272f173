import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify'
import { ProxyError, fieldError, type ErrorType } from '../errors.ts'
import { formatPointer } from '../merge/json-pointer.ts'
import { SESSIONS_PATH, type FieldError, type ProxyErrorBody } from '../schemas.ts'

// fastify's own errors, by code, into the catalogue. Anything not listed and not a ProxyError is a bug: 500.
const FASTIFY_ERRORS: Record<string, ErrorType> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'E_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'E_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'E_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'E_INVALID_BODY',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'E_INVALID_BODY',
  FST_ERR_BAD_URL: 'E_NOT_FOUND',
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Counts an answered request by outcome (requests_total); every error answer passes through sendError. */
    countOutcome(outcome: string): void
  }
}

/** The one place error bodies are shaped: AiFi's `{message, type, errors}` plus the request id (docs/http-api.md#errors). */
export function registerErrorHandling(app: FastifyInstance, countOutcome: (outcome: string) => void): void {
  app.decorate('countOutcome', countOutcome)
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const proxyError = toProxyError(error)
    if (proxyError.isRefusal) logRefusal(request, proxyError)
    else request.log.error({ err: error }, proxyError.message)
    return sendError(request, reply, proxyError)
  })

  const notFound = async (request: FastifyRequest, reply: FastifyReply) =>
    sendError(request, reply, new ProxyError('E_NOT_FOUND'))
  app.setNotFoundHandler(notFound)
  // fastify reads and parses the body of a request to an unknown route before its not-found handler runs, so bad
  // JSON would be a 400; answering in onRequest puts the route check before body checks (docs/http-api.md#check-order).
  app.addHook('onRequest', (request, reply, done) => {
    if (request.is404) notFound(request, reply)
    else done()
  })
}

/**
 * A refusal is logged without a stack, one line per request: bad input at info, and so is a drain; a 503 the
 * proxy's own policy answers with (rate limit, lock timeout, Redis down) at warn, since many of them say the
 * proxy is overloaded or cut off, but each is expected, not a fault (docs/operations.md#logs).
 */
function logRefusal(request: FastifyRequest, error: ProxyError): void {
  const level = error.statusCode >= 500 && error.type !== 'E_SHUTTING_DOWN' ? 'warn' : 'info'
  request.log[level]({ type: error.type, reason: error.message }, 'request refused')
}

// Router failures that, under the sessions path, can only be about the session id.
const SESSION_ID_ERRORS = new Set(['FST_ERR_BAD_URL', 'FST_ERR_MAX_PARAM_LENGTH'])

/**
 * fastify's `frameworkErrors`: failures before routing, such as a path that cannot be percent-decoded. Under the
 * sessions path that is an id that cannot be decoded or is longer than the router's maxParamLength, so no
 * session has it: 404 E_SESSION_NOT_FOUND (docs/http-api.md#check-order), not a missing route.
 */
export function handleFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const underSessions = request.url.startsWith(`${SESSIONS_PATH}/`)
  const type: ErrorType = SESSION_ID_ERRORS.has(error.code) && underSessions ? 'E_SESSION_NOT_FOUND' : 'E_NOT_FOUND'
  request.log.info({ type, code: error.code }, 'request refused before routing')
  // No onRequest hook runs before routing, so the request id header (docs/operations.md#request-ids) is set here.
  sendError(request, reply.header('x-request-id', request.id), new ProxyError(type))
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: ProxyError): FastifyReply {
  request.server.countOutcome(error.type)
  const body: ProxyErrorBody = { message: error.message, type: error.type, errors: error.errors, requestId: request.id }
  return reply.code(error.statusCode).headers(error.headers).type('application/json; charset=utf-8').send(body)
}

function toProxyError(error: FastifyError): ProxyError {
  if (error instanceof ProxyError) return error
  if (Array.isArray(error.validation)) {
    const context = error.validationContext ?? 'body'
    const errors = error.validation.flatMap((issue) => validationFieldErrors(context, issue))
    return new ProxyError('E_INVALID_BODY', { message: `Invalid request ${context}`, errors, cause: error })
  }
  const mapped = error.code === undefined ? undefined : FASTIFY_ERRORS[error.code]
  if (mapped !== undefined) return new ProxyError(mapped, { cause: error })
  // A body that fastify itself failed to read (aborted upload, bad chunking) is the client's fault.
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new ProxyError('E_INVALID_BODY', { cause: error })
  }
  return new ProxyError('E_INTERNAL', { cause: error })
}

/**
 * docs/http-api.md#field-names: in the body a field is an RFC 6901 pointer (`/metadata`, the empty pointer for the
 * body as a whole); a query parameter is named as it is. zod's strict object reports all unknown members in one issue
 * whose message quotes their names: here each gets an entry of its own, named by its pointer, with a message that
 * quotes nothing.
 */
function validationFieldErrors(context: string, issue: FastifySchemaValidationError): FieldError[] {
  // The type provider joins zod's path with unescaped `/`; the body schema's own members contain neither `/` nor `~`.
  const tokens = issue.instancePath === '/' ? [] : issue.instancePath.split('/').slice(1)
  const name = (path: string[]) => (context === 'body' ? formatPointer(path) : path.join('.') || context)
  if (issue.keyword === 'unrecognized_keys' && Array.isArray(issue.params.keys)) {
    return issue.params.keys.map((key) => fieldError(name([...tokens, String(key)]), 'is not allowed', issue.keyword))
  }
  return [fieldError(name(tokens), issue.message ?? 'is invalid', issue.keyword)]
}
