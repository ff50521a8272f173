import type { FieldError } from './schemas.ts'

// The error catalogue (docs/http-api.md#errors): one line per error the proxy answers with. An error a caller
// should retry carries `retryAfterSeconds`, the Retry-After it is answered with unless the error gives its own.
interface CatalogueEntry {
  status: number
  message: string
  retryAfterSeconds?: number
  /** Headers every answer of this type carries. */
  headers?: Record<string, string>
  /** A 5xx the proxy answers on purpose, not a fault: logged like a 4xx refusal (docs/operations.md#logs). */
  refusal?: true
}

const catalogue = {
  E_INVALID_BODY: { status: 400, message: 'Invalid request body' },
  E_RESERVED_KEY: { status: 400, message: 'metadata.events is reserved for AiFi and cannot be written' },
  E_FORBIDDEN_KEY: { status: 400, message: 'Keys __proto__, constructor and prototype are not allowed' },
  // RFC 9110 §11.6.1: a 401 names the scheme the credentials must use.
  E_UNAUTHORIZED: { status: 401, message: 'Missing or invalid credentials', headers: { 'www-authenticate': 'Bearer' } },
  E_SESSION_NOT_FOUND: { status: 404, message: 'Session not found' },
  E_NOT_FOUND: { status: 404, message: 'Route not found' },
  E_METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  E_REQUEST_TIMEOUT: { status: 408, message: 'The request did not arrive in time' },
  E_IDEMPOTENCY_IN_PROGRESS: { status: 409, message: 'A request with this Idempotency-Key is still running', retryAfterSeconds: 1 },
  E_PRECONDITION_FAILED: { status: 412, message: 'If-Match does not match the current ETag' },
  E_PAYLOAD_TOO_LARGE: { status: 413, message: 'Request body is too large' },
  E_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    message: 'Content-Type must be application/json or application/merge-patch+json (UTF-8)',
    // RFC 5789 §2.2: a 415 to a PATCH says which patch format to send instead.
    headers: { 'accept-patch': 'application/merge-patch+json' },
  },
  E_IDEMPOTENCY_MISMATCH: { status: 422, message: 'Idempotency-Key was used with a different request' },
  E_UPSTREAM_REJECTED: { status: 422, message: 'AiFi rejected the write' },
  E_INTERNAL: { status: 500, message: 'Internal error' },
  E_UPSTREAM_AUTH: {
    status: 502,
    message: 'AiFi refused the proxy credentials: check AIFI_API_TOKEN (a configuration fault)',
  },
  E_UPSTREAM_BAD_RESPONSE: { status: 502, message: 'AiFi answered something the proxy cannot use' },
  E_UPSTREAM_UNAVAILABLE: { status: 503, message: 'AiFi is unavailable, retry later', retryAfterSeconds: 1 },
  E_QUOTA_EXHAUSTED: {
    status: 503,
    message: "The caller's share of the AiFi quota cannot serve this patch in time, retry later",
    retryAfterSeconds: 1,
    refusal: true,
  },
  E_LOCK_TIMEOUT: { status: 503, message: 'Timed out waiting for the session write lock, retry later', retryAfterSeconds: 1, refusal: true },
  E_COORDINATION_UNAVAILABLE: {
    status: 503,
    message: 'Redis, which replicas share for locks and the AiFi quota, does not answer: retry later',
    retryAfterSeconds: 1,
    refusal: true,
  },
  E_COORDINATION_LOST: {
    status: 503,
    message: 'Redis failed after the patch was queued: it may have been applied; read the session, or retry with the same Idempotency-Key',
    retryAfterSeconds: 1,
  },
  E_SHUTTING_DOWN: {
    status: 503,
    message: 'The proxy is shutting down, retry on another instance',
    retryAfterSeconds: 1,
    // The client's next request should open a connection to another instance.
    headers: { connection: 'close' },
    refusal: true,
  },
  E_UPSTREAM_TIMEOUT: { status: 504, message: 'AiFi did not answer in time' },
} as const satisfies Record<string, CatalogueEntry>

export type ErrorType = keyof typeof catalogue

/** Every type in the catalogue, in catalogue order: the OpenAPI document's error `type` enum. */
export const ERROR_TYPES = Object.keys(catalogue) as [ErrorType, ...ErrorType[]]

/** The headers every answer of `status` may carry by the catalogue (Retry-After included): the document declares them. */
export function errorHeadersWithStatus(status: number): string[] {
  const entries: CatalogueEntry[] = errorTypesWithStatus(status).map((type) => catalogue[type])
  const names = entries.flatMap((entry) => [...Object.keys(entry.headers ?? {}), ...(entry.retryAfterSeconds === undefined ? [] : ['retry-after'])])
  return [...new Set(names)]
}

/** The catalogue's types answered with `status`, in catalogue order: the OpenAPI document lists them. */
export function errorTypesWithStatus(status: number): ErrorType[] {
  return (Object.keys(catalogue) as ErrorType[]).filter((type) => catalogue[type].status === status)
}

export interface ProxyErrorOptions {
  message?: string
  errors?: FieldError[]
  /** Overrides the catalogue's Retry-After, e.g. with the one AiFi sent. */
  retryAfterSeconds?: number
  headers?: Record<string, string>
  cause?: unknown
  /** A 5xx answered on purpose by the proxy's own policy (e.g. the rate limiter's), not a fault. */
  refusal?: boolean
}

/** Every error the proxy answers with. The root error handler turns it into AiFi's error shape. */
export class ProxyError extends Error {
  override name = 'ProxyError'
  readonly statusCode: number
  readonly errors: FieldError[]
  readonly headers: Record<string, string>
  /** Logged at info without a stack, as bad input is: every 4xx, and the 5xx the proxy answers on purpose. */
  readonly isRefusal: boolean

  constructor(
    readonly type: ErrorType,
    options: ProxyErrorOptions = {},
  ) {
    const entry: CatalogueEntry = catalogue[type]
    const isRefusal = entry.status < 500 || entry.refusal === true || options.refusal === true
    // A refusal is answered and logged without its stack (http/error-handler.ts), and under a flood most answers
    // are refusals: capturing a stack nobody reads was a good part of each one's cost.
    const stackTraceLimit = Error.stackTraceLimit
    if (isRefusal) Error.stackTraceLimit = 0
    super(options.message ?? entry.message, { cause: options.cause })
    Error.stackTraceLimit = stackTraceLimit
    this.statusCode = entry.status
    this.errors = options.errors ?? []
    const retryAfterSeconds = options.retryAfterSeconds ?? entry.retryAfterSeconds
    this.isRefusal = isRefusal
    this.headers = {
      ...entry.headers,
      ...(retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) }),
      ...options.headers,
    }
  }
}

export function fieldError(field: string, error: string, rule: string): FieldError {
  return { field, error, rule }
}

/**
 * Redis did not answer a call that decides whether a patch may proceed (docs/consistency.md#several-replicas):
 * nothing was written, and nothing of this request ever will be.
 */
export function coordinationUnavailable(what: string, cause?: unknown): ProxyError {
  return new ProxyError('E_COORDINATION_UNAVAILABLE', { message: `Redis does not answer: ${what}`, cause })
}
