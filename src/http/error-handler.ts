import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ProxyError, fieldError, isProxyError, type ErrorType } from '../errors.ts'
import type { ProxyErrorBody } from '../schemas.ts'

// fastify's own errors, by code, into the catalogue. Anything not listed and not a ProxyError is a bug: 500.
const FASTIFY_ERRORS: Record<string, ErrorType> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'E_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'E_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'E_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'E_INVALID_BODY',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'E_INVALID_BODY',
  FST_ERR_BAD_URL: 'E_NOT_FOUND',
}

/** The one place error bodies are shaped: AiFi's `{message, type, errors}` plus the request id (SPEC §3.4). */
export function registerErrorHandling(app: FastifyInstance, onError: (type: ErrorType) => void): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const proxyError = toProxyError(error)
    if (proxyError.statusCode >= 500) request.log.error({ err: error }, proxyError.message)
    else request.log.info({ type: proxyError.type, reason: proxyError.message }, 'request refused')
    return sendError(request, reply, proxyError, onError)
  })

  app.setNotFoundHandler((request, reply) => sendError(request, reply, new ProxyError('E_NOT_FOUND'), onError))
}

/**
 * fastify's `frameworkErrors`: failures before routing, such as a path that cannot be percent-decoded. Under the
 * sessions path that is an id that cannot be decoded: 404 E_SESSION_NOT_FOUND (SPEC §3.5).
 */
export function handleFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const underSessions = request.url.startsWith('/api/admin/v2/sessions/')
  const type: ErrorType = error.code === 'FST_ERR_BAD_URL' && underSessions ? 'E_SESSION_NOT_FOUND' : 'E_NOT_FOUND'
  request.log.info({ type, code: error.code }, 'request refused before routing')
  sendError(request, reply, new ProxyError(type))
}

export function sendError(
  request: FastifyRequest,
  reply: FastifyReply,
  error: ProxyError,
  onError?: (type: ErrorType) => void,
): FastifyReply {
  onError?.(error.type)
  const body: ProxyErrorBody = { message: error.message, type: error.type, errors: error.errors, requestId: request.id }
  return reply.code(error.statusCode).headers(error.headers).type('application/json; charset=utf-8').send(body)
}

function toProxyError(error: FastifyError): ProxyError {
  if (isProxyError(error)) return error
  if (Array.isArray(error.validation)) {
    const context = error.validationContext ?? 'body'
    const errors = error.validation.map((issue) =>
      fieldError(fieldName(context, issue.instancePath), issue.message ?? 'is invalid', issue.keyword),
    )
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

function fieldName(context: string, instancePath: string): string {
  const path = instancePath.split('/').filter(Boolean).join('.')
  return path === '' ? context : path
}
