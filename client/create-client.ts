import { readMergeResult, readSessionAnswer } from './answers.ts'
import { openCallScope, type CallScope } from './call-scope.ts'
import { MergeProxyError } from './errors.ts'
import { resolveOptions, type ClientOptions } from './options.ts'
import { sendWithRetries, type Transport } from './send.ts'
import type { MergeRequestHeaders, MergeResult, Session, SessionPatch } from './types.ts'

export interface MergeOptions {
  /** Apply only if the session's ETag still matches (else 412 `E_PRECONDITION_FAILED`). */
  ifMatch?: MergeRequestHeaders['If-Match']
  /** Merge and answer, write nothing. */
  dryRun?: boolean
  /** Defaults to a fresh UUID; the same key is sent on every attempt of the call. */
  idempotencyKey?: MergeRequestHeaders['Idempotency-Key']
  /** Ends the call (rejects with `E_CLIENT_ABORTED`, or `E_CLIENT_TIMEOUT` for `AbortSignal.timeout()`). */
  signal?: AbortSignal
}

export interface ReadOptions {
  signal?: AbortSignal
}

export interface UpdateOptions {
  /** Read-compute-write rounds before a 412 is final (default 10). */
  attempts?: number
  signal?: AbortSignal
}

export interface ReadOutcome {
  session: Session
  etag: string
  requestId: string | undefined
}

export interface MergeOutcome extends ReadOutcome {
  mergeResult: MergeResult
  /** `merge`: HTTP attempts of this call. `update`: read-compute-write rounds. */
  attempts: number
  /** The proxy replayed the first answer to this Idempotency-Key (an earlier attempt had landed). */
  replayed: boolean
}

/** Computes the patch from the current session; `undefined` when there is nothing to write. */
export type ComputePatch = (session: Session) => SessionPatch | undefined | Promise<SessionPatch | undefined>

const SESSIONS_PATH = '/api/admin/v2/sessions/'
// URL parsing removes a `.` or `..` path segment (`%2e` too), so no request can name such a session: the client
// answers the proxy's own 404 for them without a call.
const UNSENDABLE_IDS = new Set(['', '.', '..'])

export function createClient(options: ClientOptions) {
  const settings = resolveOptions(options)
  const transport: Transport = { fetch: settings.fetch, timeoutMs: settings.timeoutMs, retries: settings.retries, apiKey: options.apiKey }
  const authorization = `Bearer ${options.apiKey}`

  function sessionUrl(sessionId: string): string {
    if (UNSENDABLE_IDS.has(sessionId)) {
      throw new MergeProxyError({ status: 404, type: 'E_SESSION_NOT_FOUND', message: 'No session has that id', attempts: 0 })
    }
    return `${settings.baseUrl}${SESSIONS_PATH}${encodeURIComponent(sessionId)}`
  }

  async function readWithin(scope: CallScope, sessionId: string): Promise<ReadOutcome> {
    const url = sessionUrl(sessionId)
    const headers = { authorization, accept: 'application/json' }
    const { answer, attempts } = await sendWithRetries(transport, { method: 'GET', url, headers }, scope)
    return readSessionAnswer(answer, { apiKey: options.apiKey, attempts })
  }

  async function mergeWithin(scope: CallScope, sessionId: string, patch: SessionPatch, merge: MergeOptions): Promise<MergeOutcome> {
    const idempotencyKey = merge.idempotencyKey ?? crypto.randomUUID()
    const url = `${sessionUrl(sessionId)}${merge.dryRun ? '?dryRun=true' : ''}`
    const headers: Record<string, string> = {
      authorization,
      accept: 'application/json',
      'content-type': 'application/merge-patch+json',
      'idempotency-key': idempotencyKey,
      ...(merge.ifMatch === undefined ? {} : { 'if-match': merge.ifMatch }),
    }
    // Serialized once: a retry must send the very same bytes, or the proxy sees another request under the same key.
    const request = { method: 'PATCH' as const, url, headers, body: JSON.stringify(patch), idempotencyKey }
    const { answer, attempts } = await sendWithRetries(transport, request, scope)
    const context = { apiKey: options.apiKey, attempts, idempotencyKey }
    return { ...readSessionAnswer(answer, context), ...readMergeResult(answer, context), attempts }
  }

  function withinScope<T>(signal: AbortSignal | undefined, work: (scope: CallScope) => Promise<T>): Promise<T> {
    const scope = openCallScope(settings.deadlineMs, signal)
    return work(scope).finally(() => scope.close())
  }

  return {
    /** PATCH: merge `patch` into the session (RFC 7396), retried safely under one Idempotency-Key. */
    merge: (sessionId: string, patch: SessionPatch, merge: MergeOptions = {}) =>
      withinScope(merge.signal, (scope) => mergeWithin(scope, sessionId, patch, merge)),

    /** GET: the session and the ETag to send back in `If-Match`. */
    get: (sessionId: string, read: ReadOptions = {}) => withinScope(read.signal, (scope) => readWithin(scope, sessionId)),

    /**
     * Read-compute-write for changes a merge patch cannot express (increment, append), after Kubernetes'
     * `RetryOnConflict`: read with the ETag, write `compute(session)` with `If-Match`, and on 412 start over, at
     * most `attempts` rounds, all within one deadline. `undefined` from `compute` writes nothing and resolves with
     * the session read and `mergeResult: 'noop'`.
     */
    update: (sessionId: string, compute: ComputePatch, update: UpdateOptions = {}) =>
      withinScope(update.signal, async (scope) => {
        const rounds = update.attempts ?? 10
        if (!Number.isInteger(rounds) || rounds < 1) throw new TypeError('update attempts must be a positive integer')
        for (let round = 1; ; round++) {
          const read = await readWithin(scope, sessionId)
          const patch = await compute(read.session)
          if (patch === undefined) return { ...read, mergeResult: 'noop' as const, attempts: round, replayed: false }
          try {
            return { ...(await mergeWithin(scope, sessionId, patch, { ifMatch: read.etag })), attempts: round }
          } catch (error) {
            const conflict = error instanceof MergeProxyError && error.status === 412
            if (!conflict || round >= rounds) throw error
          }
        }
      }),
  }
}

export type MergeProxyClient = ReturnType<typeof createClient>
