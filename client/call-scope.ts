import { MergeProxyError } from './errors.ts'

/**
 * One call's time budget: `deadlineMs` from its start, or the caller's signal, whichever ends first. Every attempt
 * and every wait between attempts runs under it, so a call never outlives it.
 */
export interface CallScope {
  /** Aborted when the deadline passes or the caller's signal aborts. */
  readonly signal: AbortSignal
  remainingMs(): number
  /** Why the scope ended, as the error the call rejects with. */
  endedError(attempts: number, idempotencyKey?: string): MergeProxyError
  /** One attempt's signal: the scope's, and `timeoutMs` of its own. */
  startAttempt(timeoutMs: number): Attempt
  /** Resolves after `ms`, or rejects with {@link endedError} when the scope ends first. */
  wait(ms: number, attempts: number, idempotencyKey?: string): Promise<void>
  close(): void
}

export interface Attempt {
  readonly signal: AbortSignal
  timedOut(): boolean
  finish(): void
}

const deadlinePassed = Symbol('deadline passed')

export function openCallScope(deadlineMs: number, callerSignal?: AbortSignal): CallScope {
  const expiresAt = performance.now() + deadlineMs
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(deadlinePassed), deadlineMs)
  const onCallerAbort = () => controller.abort(callerSignal?.reason)
  if (callerSignal?.aborted) onCallerAbort()
  else callerSignal?.addEventListener('abort', onCallerAbort, { once: true })

  function endedError(attempts: number, idempotencyKey?: string): MergeProxyError {
    const reason: unknown = controller.signal.reason
    // A caller's AbortSignal.timeout() is a deadline too, so it reads as one.
    const timedOut = reason === deadlinePassed || (reason instanceof Error && reason.name === 'TimeoutError')
    return new MergeProxyError({
      status: 0,
      type: timedOut ? 'E_CLIENT_TIMEOUT' : 'E_CLIENT_ABORTED',
      message: timedOut
        ? `The call's deadline passed after ${attempts} attempt(s)`
        : `The call was aborted by the caller after ${attempts} attempt(s)`,
      attempts,
      idempotencyKey,
      cause: reason === deadlinePassed ? undefined : reason,
    })
  }

  return {
    signal: controller.signal,
    remainingMs: () => Math.max(0, expiresAt - performance.now()),
    endedError,
    startAttempt(timeoutMs) {
      const own = new AbortController()
      const attemptTimer = setTimeout(() => own.abort(), timeoutMs)
      return {
        signal: AbortSignal.any([controller.signal, own.signal]),
        timedOut: () => own.signal.aborted,
        finish: () => clearTimeout(attemptTimer),
      }
    },
    wait(ms, attempts, idempotencyKey) {
      return new Promise((resolve, reject) => {
        if (controller.signal.aborted) return reject(endedError(attempts, idempotencyKey))
        const onEnd = () => {
          clearTimeout(waitTimer)
          reject(endedError(attempts, idempotencyKey))
        }
        const waitTimer = setTimeout(() => {
          controller.signal.removeEventListener('abort', onEnd)
          resolve()
        }, ms)
        controller.signal.addEventListener('abort', onEnd, { once: true })
      })
    },
    close() {
      clearTimeout(timer)
      callerSignal?.removeEventListener('abort', onCallerAbort)
    },
  }
}
