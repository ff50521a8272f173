import { errorFromAnswer, type Answer } from './answers.ts'
import type { CallScope } from './call-scope.ts'
import { MergeProxyError } from './errors.ts'
import { planRetry, type Failure } from './retry-plan.ts'

export type Fetch = (input: string, init: RequestInit) => Promise<Response>

export interface Transport {
  fetch: Fetch
  timeoutMs: number
  retries: number
  apiKey: string
}

export interface OutgoingRequest {
  method: 'GET' | 'PATCH'
  url: string
  headers: Record<string, string>
  body?: string
  /** Sent as `Idempotency-Key` on every attempt of a merge, and named by its errors. */
  idempotencyKey?: string
}

type Outcome = { kind: 'answer'; answer: Answer } | { kind: 'ended' } | { kind: 'failed'; failure: Failure; cause: unknown }

/** Sends `request` until a 2xx answers, a failure is not worth retrying, the attempts run out or the scope ends. */
export async function sendWithRetries(transport: Transport, request: OutgoingRequest, scope: CallScope): Promise<{ answer: Answer; attempts: number }> {
  for (let attempts = 1; ; attempts++) {
    const outcome = await sendOnce(transport, request, scope)
    if (outcome.kind === 'ended') throw scope.endedError(attempts, request.idempotencyKey)
    if (outcome.kind === 'answer' && outcome.answer.status >= 200 && outcome.answer.status < 300) {
      return { answer: outcome.answer, attempts }
    }
    const { failure, error } = outcome.kind === 'answer'
      ? describeAnswer(outcome.answer, transport.apiKey, attempts, request.idempotencyKey)
      : { failure: outcome.failure, error: describeFailure(outcome, transport.timeoutMs, attempts, request.idempotencyKey) }
    const plan = planRetry({ failure, retriesMade: attempts - 1, retries: transport.retries, remainingMs: scope.remainingMs() })
    if (!plan.retry) throw error
    await scope.wait(plan.waitMs, attempts, request.idempotencyKey)
  }
}

async function sendOnce(transport: Transport, request: OutgoingRequest, scope: CallScope): Promise<Outcome> {
  if (scope.signal.aborted) return { kind: 'ended' }
  const attempt = scope.startAttempt(transport.timeoutMs)
  try {
    // Redirects are answers, not something to follow with the caller's key to wherever they point.
    const response = await endedBy(attempt.signal, transport.fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal: attempt.signal,
      redirect: 'manual',
    }))
    // The attempt's timeout covers the body too: a proxy that stalls mid-answer is as stuck as a silent one.
    const text = await endedBy(attempt.signal, response.text())
    return { kind: 'answer', answer: { status: response.status, headers: response.headers, text } }
  } catch (cause) {
    if (scope.signal.aborted) return { kind: 'ended' }
    if (attempt.timedOut()) return { kind: 'failed', failure: { kind: 'attempt-timeout' }, cause }
    return { kind: 'failed', failure: { kind: cause instanceof TypeError ? 'connection' : 'other' }, cause }
  } finally {
    attempt.finish()
  }
}

/** Rejects when `signal` aborts even if `work` ignores it, as an injected fetch or its body stream may. */
function endedBy<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  let onAbort: () => void = () => {}
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener('abort', onAbort))
}

function describeAnswer(answer: Answer, apiKey: string, attempts: number, idempotencyKey?: string) {
  const error = errorFromAnswer(answer, { apiKey, attempts, idempotencyKey })
  const failure: Failure = { kind: 'answer', status: answer.status, type: error.type, retryAfter: answer.headers.get('retry-after') }
  return { failure, error }
}

// Messages are written here, never copied from the cause: a transport error may quote a header it refused.
function describeFailure(outcome: { failure: Failure; cause: unknown }, timeoutMs: number, attempts: number, idempotencyKey?: string) {
  const timedOut = outcome.failure.kind === 'attempt-timeout'
  const what = timedOut ? `timed out after ${timeoutMs} ms` : 'could not reach the proxy'
  const code = errorCode(outcome.cause)
  return new MergeProxyError({
    status: 0,
    type: timedOut ? 'E_CLIENT_TIMEOUT' : 'E_CLIENT_NETWORK',
    message: `Attempt ${attempts} ${what}${code === undefined ? '' : ` (${code})`}`,
    attempts,
    idempotencyKey,
    cause: outcome.cause,
  })
}

/** undici wraps the socket error: `TypeError: fetch failed` with `cause.code` such as ECONNREFUSED. */
function errorCode(error: unknown): string | undefined {
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined
  const code = cause?.code
  return typeof code === 'string' && /^[A-Z0-9_]+$/.test(code) ? code : undefined
}
