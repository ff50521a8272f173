import type { FieldError, ProxyErrorType } from './types.ts'

/**
 * Failures seen only by the client, all with status 0:
 * - `E_CLIENT_TIMEOUT`: the call's deadline passed (`deadlineMs`, or a caller's `AbortSignal.timeout()`), or the
 *   last attempt timed out (`timeoutMs`);
 * - `E_CLIENT_ABORTED`: the caller's signal was aborted;
 * - `E_CLIENT_NETWORK`: the proxy could not be reached, on every attempt.
 * A merge that ends with one of them may or may not have been applied: call `merge` again with the error's
 * `idempotencyKey` to get the first answer instead of applying the patch twice.
 */
export type ClientErrorType = 'E_CLIENT_TIMEOUT' | 'E_CLIENT_ABORTED' | 'E_CLIENT_NETWORK'

/** An answer that is not what the proxy sends (not its error body, a 2xx without a session or an ETag). */
export const UNEXPECTED_RESPONSE = 'E_UNEXPECTED_RESPONSE'

/** What a failed call's `type` can be: the proxy's error types (from its OpenAPI document) or the client's own. */
export type MergeProxyErrorType = ProxyErrorType | ClientErrorType | typeof UNEXPECTED_RESPONSE

export interface MergeProxyErrorInit {
  status: number
  type: MergeProxyErrorType
  message: string
  errors?: FieldError[]
  requestId?: string
  attempts: number
  idempotencyKey?: string
  cause?: unknown
}

/** Every failure of a client call: the proxy's error body (§ error table), or a client-side failure with status 0. */
export class MergeProxyError extends Error {
  /** The HTTP status, or 0 when no usable answer arrived. */
  readonly status: number
  /** `E_...`: the proxy's error type, a {@link ClientErrorType}, or `E_UNEXPECTED_RESPONSE`. */
  readonly type: MergeProxyErrorType
  readonly errors: FieldError[]
  /** The proxy's `X-Request-Id` of the last answer, for its logs. */
  readonly requestId: string | undefined
  /** HTTP attempts made for this call. */
  readonly attempts: number
  /** The `Idempotency-Key` a failed merge was sent with: reuse it to retry safely. */
  readonly idempotencyKey: string | undefined

  constructor(init: MergeProxyErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause })
    this.name = 'MergeProxyError'
    this.status = init.status
    this.type = init.type
    this.errors = init.errors ?? []
    this.requestId = init.requestId
    this.attempts = init.attempts
    this.idempotencyKey = init.idempotencyKey
  }
}

/**
 * The caller's key must never reach a message, whoever wrote it: the proxy never echoes it, but a gateway in front
 * of it or a misconfigured one might.
 */
export function redactSecret(text: string, secret: string): string {
  return text.split(secret).join('[redacted]')
}
