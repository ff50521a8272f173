import type { FieldError } from './schemas.ts'

// The error catalogue (SPEC §3.4): one line per error the proxy answers with.
const catalogue = {
  E_INVALID_BODY: { status: 400, message: 'Invalid request body' },
  E_RESERVED_KEY: { status: 400, message: 'metadata.events is reserved for AiFi and cannot be written' },
  E_FORBIDDEN_KEY: { status: 400, message: 'Keys __proto__, constructor and prototype are not allowed' },
  E_UNAUTHORIZED: { status: 401, message: 'Missing or invalid credentials' },
  E_SESSION_NOT_FOUND: { status: 404, message: 'Session not found' },
  E_NOT_FOUND: { status: 404, message: 'Route not found' },
  E_METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  E_REQUEST_TIMEOUT: { status: 408, message: 'The request did not arrive in time' },
  E_IDEMPOTENCY_IN_PROGRESS: { status: 409, message: 'A request with this Idempotency-Key is still running' },
  E_PRECONDITION_FAILED: { status: 412, message: 'If-Match does not match the current ETag' },
  E_PAYLOAD_TOO_LARGE: { status: 413, message: 'Request body is too large' },
  E_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    message: 'Content-Type must be application/json or application/merge-patch+json (UTF-8)',
  },
  E_IDEMPOTENCY_MISMATCH: { status: 422, message: 'Idempotency-Key was used with a different request' },
  E_UPSTREAM_REJECTED: { status: 422, message: 'AiFi rejected the write' },
  E_INTERNAL: { status: 500, message: 'Internal error' },
  E_UPSTREAM_AUTH: {
    status: 502,
    message: 'AiFi refused the proxy credentials: check AIFI_API_TOKEN (a configuration fault)',
  },
  E_UPSTREAM_BAD_RESPONSE: { status: 502, message: 'AiFi answered something the proxy cannot use' },
  E_UPSTREAM_UNAVAILABLE: { status: 503, message: 'AiFi is unavailable, retry later' },
  E_LOCK_TIMEOUT: { status: 503, message: 'Timed out waiting for the session write lock, retry later' },
  E_SHUTTING_DOWN: { status: 503, message: 'The proxy is shutting down, retry on another instance' },
  E_UPSTREAM_TIMEOUT: { status: 504, message: 'AiFi did not answer in time' },
} as const satisfies Record<string, { status: number; message: string }>

export type ErrorType = keyof typeof catalogue

/** The catalogue's types answered with `status`, in catalogue order: the OpenAPI document lists them. */
export function errorTypesWithStatus(status: number): ErrorType[] {
  return (Object.keys(catalogue) as ErrorType[]).filter((type) => catalogue[type].status === status)
}

export interface ProxyErrorOptions {
  message?: string
  errors?: FieldError[]
  headers?: Record<string, string>
  cause?: unknown
}

/** Every error the proxy answers with. The root error handler turns it into AiFi's error shape. */
export class ProxyError extends Error {
  override name = 'ProxyError'
  readonly statusCode: number
  readonly errors: FieldError[]
  readonly headers: Record<string, string>

  constructor(
    readonly type: ErrorType,
    options: ProxyErrorOptions = {},
  ) {
    super(options.message ?? catalogue[type].message, { cause: options.cause })
    this.statusCode = catalogue[type].status
    this.errors = options.errors ?? []
    this.headers = options.headers ?? {}
  }
}

export function fieldError(field: string, error: string, rule: string): FieldError {
  return { field, error, rule }
}
