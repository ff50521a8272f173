import { ProxyError } from '../errors.ts'
import { aifiErrorBodySchema, type FieldError } from '../schemas.ts'
import { DeadlineExceededError, UpstreamBadResponseError, UpstreamHttpError, UpstreamTimeoutError } from './upstream-errors.ts'

export type AuthMode = 'service' | 'forward'

/**
 * What a failed read does: `retry` after a backoff (within the retries and the deadline), or `fail` at once.
 * What a failed write does: `rerun` the whole read-merge-write cycle (AiFi may or may not have acted, so the
 * old body is never re-sent), `split` a batch to retry its patches one by one (AiFi refused this body, so only
 * the offending caller should fail), or `settle`, answering every caller in the write with the error.
 */
export interface FailureRule {
  read: 'retry' | 'fail'
  write: 'rerun' | 'split' | 'settle'
  /** AiFi says it is over its rate: every caller of this credential (every replica, with Redis) pauses. */
  pause?: true
  /** The caller's error (docs/http-api.md#errors). Never a 500 for anything AiFi did. */
  answer(error: unknown, authMode: AuthMode): ProxyError
}

export type FailureKind = keyof typeof FAILURE_TABLE

/** The one table that says what an upstream outcome means. Adding a fault rule is a line here. */
export const FAILURE_TABLE = {
  timeout: { read: 'retry', write: 'rerun', answer: (cause) => new ProxyError('E_UPSTREAM_TIMEOUT', { cause }) },
  connection: { read: 'retry', write: 'rerun', answer: (cause) => new ProxyError('E_UPSTREAM_UNAVAILABLE', { cause }) },
  throttled: { read: 'retry', write: 'rerun', pause: true, answer: (cause) => unavailable(cause) },
  unavailable: { read: 'retry', write: 'rerun', answer: (cause) => unavailable(cause) },
  credentials: { read: 'fail', write: 'settle', answer: (cause, mode) => refusedCredentials(cause, mode) },
  'not-found': { read: 'fail', write: 'settle', answer: (cause) => new ProxyError('E_SESSION_NOT_FOUND', { cause }) },
  rejected: { read: 'fail', write: 'split', answer: (cause) => rejected(cause as UpstreamHttpError) },
  'unexpected-status': { read: 'fail', write: 'settle', answer: (cause) => unexpectedStatus(cause as UpstreamHttpError) },
  'bad-response': { read: 'fail', write: 'settle', answer: (cause) => badResponse(cause as Error) },
  /** Already the caller's answer, e.g. the rate limiter's refusal before anything was sent. */
  refused: { read: 'fail', write: 'settle', answer: (error) => error as ProxyError },
  /** Not an upstream outcome at all: a bug, answered 500 and never disguised as an upstream fault. */
  bug: { read: 'fail', write: 'settle', answer: (cause) => new ProxyError('E_INTERNAL', { cause }) },
} as const satisfies Record<string, FailureRule>

const STATUS_KINDS: Record<number, FailureKind> = {
  401: 'credentials',
  403: 'credentials',
  404: 'not-found',
  // AiFi timing out on reading the request says nothing against its body: not a rejection to split a batch over.
  408: 'unexpected-status',
  // AiFi's rate limit answers 503 (docs/aifi-upstream.md#rate-limit); 429 means the same wherever it is sent.
  429: 'throttled',
  500: 'unavailable',
  502: 'unavailable',
  503: 'throttled',
  504: 'unavailable',
}

// undici and Node name their transport failures by `code`.
const CODE_KINDS: Record<string, FailureKind> = {
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_SOCKET: 'connection',
  UND_ERR_CLOSED: 'connection',
  ECONNRESET: 'connection',
  ECONNREFUSED: 'connection',
  EPIPE: 'connection',
  ETIMEDOUT: 'connection',
  EHOSTUNREACH: 'connection',
  ENETUNREACH: 'connection',
  EAI_AGAIN: 'connection',
}

export function failureKind(error: unknown): FailureKind {
  if (error instanceof ProxyError) return 'refused'
  if (error instanceof UpstreamTimeoutError || error instanceof DeadlineExceededError) return 'timeout'
  if (error instanceof UpstreamBadResponseError) return 'bad-response'
  if (error instanceof UpstreamHttpError) {
    const kind = STATUS_KINDS[error.status]
    if (kind !== undefined) return kind
    return error.status >= 400 && error.status < 500 ? 'rejected' : 'unexpected-status'
  }
  const code = (error as { code?: unknown } | null)?.code
  return (typeof code === 'string' ? CODE_KINDS[code] : undefined) ?? 'bug'
}

export interface ClassifiedFailure {
  kind: FailureKind
  read: FailureRule['read']
  write: FailureRule['write']
  pause: boolean
  error: ProxyError
  /** AiFi's own Retry-After, which a backoff honours. */
  retryAfterSeconds: number | undefined
  /** For metrics and the audit line: the HTTP status, or `timeout` / `error`. */
  label: string
}

export function classifyFailure(error: unknown, authMode: AuthMode): ClassifiedFailure {
  const kind = failureKind(error)
  const rule: FailureRule = FAILURE_TABLE[kind]
  return {
    kind,
    read: rule.read,
    write: rule.write,
    pause: rule.pause === true,
    error: rule.answer(error, authMode),
    retryAfterSeconds: retryAfterOf(error),
    label: outcomeLabel(error),
  }
}

export function retryAfterOf(error: unknown): number | undefined {
  return error instanceof UpstreamHttpError ? error.retryAfterSeconds : undefined
}

/** A label for metrics and logs: the HTTP status, or `timeout` / `error`. */
export function outcomeLabel(error: unknown): string {
  if (error instanceof UpstreamHttpError) return String(error.status)
  return failureKind(error) === 'timeout' ? 'timeout' : 'error'
}

function unavailable(cause: unknown): ProxyError {
  return new ProxyError('E_UPSTREAM_UNAVAILABLE', { retryAfterSeconds: retryAfterOf(cause), cause })
}

function refusedCredentials(cause: unknown, authMode: AuthMode): ProxyError {
  return authMode === 'forward'
    ? new ProxyError('E_UNAUTHORIZED', { message: 'AiFi refused the forwarded credentials', cause })
    : new ProxyError('E_UPSTREAM_AUTH', { cause })
}

function rejected(cause: UpstreamHttpError): ProxyError {
  const message = cause.status === 400 || cause.status === 422 ? undefined : `AiFi rejected the write (${cause.status})`
  return new ProxyError('E_UPSTREAM_REJECTED', { message, errors: upstreamFieldErrors(cause.body), cause })
}

function unexpectedStatus(cause: UpstreamHttpError): ProxyError {
  return new ProxyError('E_UPSTREAM_BAD_RESPONSE', { message: `AiFi answered an unexpected ${cause.status}`, cause })
}

function badResponse(cause: Error): ProxyError {
  return new ProxyError('E_UPSTREAM_BAD_RESPONSE', { message: `AiFi answered something unusable: ${cause.message}`, cause })
}

function upstreamFieldErrors(body: unknown): FieldError[] {
  const parsed = aifiErrorBodySchema.safeParse(body)
  return parsed.success ? parsed.data.errors : []
}
