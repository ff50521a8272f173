import { aifiErrorBodySchema, type FieldError } from '../schemas.ts'
import { ProxyError } from '../errors.ts'

export type UpstreamOp = 'read' | 'write'

/** AiFi answered with a status the proxy did not expect. The body is kept only to pass validation errors on. */
export class UpstreamHttpError extends Error {
  override name = 'UpstreamHttpError'
  constructor(
    readonly op: UpstreamOp,
    readonly status: number,
    readonly body: unknown,
    readonly retryAfterSeconds: number | undefined,
  ) {
    super(`AiFi answered ${status} to a ${op}`)
  }
}

/** AiFi answered 2xx with something the proxy cannot use (not JSON, wrong shape, ambiguous id, bad metadata). */
export class UpstreamBadResponseError extends Error {
  override name = 'UpstreamBadResponseError'
  constructor(
    readonly op: UpstreamOp,
    reason: string,
  ) {
    super(reason)
  }
}

/** The request's own deadline ran out before AiFi answered, or before a retry could start. */
export class DeadlineExceededError extends Error {
  override name = 'DeadlineExceededError'
}

/** One attempt got no complete answer within its time bound. */
export class UpstreamTimeoutError extends Error {
  override name = 'UpstreamTimeoutError'
  constructor(readonly op: UpstreamOp) {
    super(`AiFi did not answer a ${op} in time`)
  }
}

// undici and Node name their transport failures by `code`; these are the ones worth another attempt.
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT'])
const CONNECTION_CODES = new Set([
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
])
const RETRYABLE_STATUSES = new Set([429, 500, 502, 503, 504])

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

export function isTimeout(error: unknown): boolean {
  const code = errorCode(error)
  if (error instanceof DeadlineExceededError || error instanceof UpstreamTimeoutError) return true
  return code !== undefined && TIMEOUT_CODES.has(code)
}

export function isConnectionFailure(error: unknown): boolean {
  const code = errorCode(error)
  return code !== undefined && CONNECTION_CODES.has(code)
}

/**
 * A failure after which AiFi may or may not have acted: worth another attempt for a read, and for a write a
 * reason to re-run the whole read-merge-write cycle (never to re-send the old body).
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof UpstreamHttpError) return RETRYABLE_STATUSES.has(error.status)
  return isTimeout(error) || isConnectionFailure(error)
}

// 4xx answers about the request itself, not the session, the credentials or the rate.
const NOT_REJECTIONS = new Set([401, 403, 404, 408, 429])

/**
 * AiFi refused what was sent (400, 409, 413, 422, …): another body might pass. A batched write refused so is
 * retried one patch at a time, so only the offending caller fails (SPEC §4).
 */
export function isRejection(error: unknown): error is UpstreamHttpError {
  return error instanceof UpstreamHttpError && error.status >= 400 && error.status < 500 && !NOT_REJECTIONS.has(error.status)
}

/** A label for metrics and logs: the HTTP status, or `timeout` / `error`. */
export function describeOutcome(error: unknown): string {
  if (error instanceof UpstreamHttpError) return String(error.status)
  return isTimeout(error) ? 'timeout' : 'error'
}

export type AuthMode = 'service' | 'forward'

const RETRY_AFTER_DEFAULT_SECONDS = 1

/** The one mapping from upstream and transport failures to the proxy's errors (SPEC §3.4). Never a 500. */
export function mapUpstreamFailure(error: unknown, authMode: AuthMode): ProxyError | undefined {
  if (error instanceof ProxyError) return error
  if (isTimeout(error)) return new ProxyError('E_UPSTREAM_TIMEOUT', { cause: error })
  if (isConnectionFailure(error)) return unavailable(error, RETRY_AFTER_DEFAULT_SECONDS)
  if (error instanceof UpstreamBadResponseError) {
    return new ProxyError('E_UPSTREAM_BAD_RESPONSE', { message: `AiFi answered something unusable: ${error.message}`, cause: error })
  }
  if (!(error instanceof UpstreamHttpError)) return undefined

  const { status } = error
  if (RETRYABLE_STATUSES.has(status)) return unavailable(error, error.retryAfterSeconds ?? RETRY_AFTER_DEFAULT_SECONDS)
  if (status === 401 || status === 403) {
    return authMode === 'forward'
      ? new ProxyError('E_UNAUTHORIZED', { message: 'AiFi refused the forwarded credentials', cause: error })
      : new ProxyError('E_UPSTREAM_AUTH', { cause: error })
  }
  if (status === 404) return new ProxyError('E_SESSION_NOT_FOUND', { cause: error })
  if (isRejection(error)) {
    const message = status === 400 || status === 422 ? undefined : `AiFi rejected the write (${status})`
    return new ProxyError('E_UPSTREAM_REJECTED', { message, errors: upstreamFieldErrors(error.body), cause: error })
  }
  return new ProxyError('E_UPSTREAM_BAD_RESPONSE', { message: `AiFi answered an unexpected ${status}`, cause: error })
}

function unavailable(cause: unknown, retryAfterSeconds: number): ProxyError {
  return new ProxyError('E_UPSTREAM_UNAVAILABLE', { headers: { 'retry-after': String(retryAfterSeconds) }, cause })
}

function upstreamFieldErrors(body: unknown): FieldError[] {
  const parsed = aifiErrorBodySchema.safeParse(body)
  return parsed.success ? parsed.data.errors : []
}
