import { Pool } from 'undici'
import type { Dispatcher } from 'undici'
import { parseJsonKeepingDigits, parseJsonLeniently } from '../merge/index.ts'
import { SESSIONS_PATH, sessionListSchema, sessionSchema, type Session, type SessionPatchBody } from '../schemas.ts'
import { outcomeLabel } from './failure-table.ts'
import { noUpstreamTracer, type UpstreamCallContext, type UpstreamTracer } from './upstream-call.ts'
import { UpstreamBadResponseError, UpstreamHttpError, UpstreamTimeoutError, type UpstreamOp } from './upstream-errors.ts'

export interface AifiClientOptions {
  baseUrl: string
  timeoutMs: number
  connections?: number
  /** A test seam (e.g. undici's MockAgent); by default the client owns one Pool for the origin. */
  dispatcher?: Dispatcher
  onAttempt?: (op: UpstreamOp, outcome: string, seconds: number) => void
  /** A span per attempt, whose traceparent goes to AiFi (docs/operations.md#traces). */
  tracer?: UpstreamTracer
}

export type AifiClient = ReturnType<typeof createAifiClient>

export function createAifiClient(options: AifiClientOptions) {
  const base = new URL(options.baseUrl)
  const basePath = base.pathname.replace(/\/+$/, '')
  const tracer = options.tracer ?? noUpstreamTracer
  const dispatcher =
    options.dispatcher ??
    new Pool(base.origin, {
      connections: options.connections ?? 64,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    })

  async function call(op: UpstreamOp, method: 'GET' | 'PATCH', path: string, context: UpstreamCallContext, body?: unknown) {
    // Each attempt is bounded by the configured timeout and by what is left of the request's deadline.
    const timeoutMs = Math.max(1, Math.min(context.deadline.remainingMs(), options.timeoutMs))
    const started = performance.now()
    const span = tracer.startUpstreamCall(op, method, base.origin + basePath + path, context.trace)
    const attempted = (outcome: string) => {
      options.onAttempt?.(op, outcome, (performance.now() - started) / 1000)
      span.end(outcome)
    }
    // undici checks its own timeouts on a coarse (about one second) timer; this abort holds the exact bound.
    // A plain timer, not AbortSignal.timeout(): that one costs a weak reference and a finalizer per call.
    const abort = new AbortController()
    const timer = setTimeout(() => abort.abort(), timeoutMs)
    const { signal } = abort
    try {
      const response = await dispatcher.request({
        origin: base.origin,
        method,
        path: basePath + path,
        headers: {
          accept: 'application/json',
          authorization: context.authorization,
          'x-request-id': context.requestId,
          ...span.headers,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal,
      })
      const text = await response.body.text()
      attempted(String(response.statusCode))
      if (response.statusCode < 200 || response.statusCode > 299) {
        // Error bodies may be empty or not JSON (docs/aifi-upstream.md#errors): only ever inspected, never required.
        throw new UpstreamHttpError(op, response.statusCode, parseJsonLeniently(text), parseRetryAfter(response.headers['retry-after']))
      }
      return parseJson(op, text)
    } catch (caught) {
      if (caught instanceof UpstreamHttpError || caught instanceof UpstreamBadResponseError) throw caught
      const error = signal.aborted ? new UpstreamTimeoutError(op) : caught
      attempted(outcomeLabel(error))
      throw error
    } finally {
      clearTimeout(timer)
    }
  }

  return {
    /**
     * AiFi documents no single-session GET, so the list endpoint is filtered by `sessionToken` (the same UUID
     * as `sessionId`, docs/aifi-upstream.md). `count=2` exposes an ambiguous id instead of silently taking one.
     */
    async readSession(sessionId: string, context: UpstreamCallContext): Promise<Session | undefined> {
      const query = new URLSearchParams({ sessionToken: sessionId, count: '2' })
      const payload = await call('read', 'GET', `${SESSIONS_PATH}?${query}`, context)
      const list = sessionListSchema.safeParse(payload)
      if (!list.success) throw new UpstreamBadResponseError('read', 'the session list has an unexpected shape')
      const matches = list.data.data.filter((item) => isSessionNamed(item, sessionId))
      if (matches.length > 1) throw new UpstreamBadResponseError('read', 'the session id matched more than one session')
      if (matches.length === 0) return undefined
      const session = sessionSchema.safeParse(matches[0])
      if (!session.success) throw new UpstreamBadResponseError('read', 'the session has an unexpected shape')
      return session.data
    },

    async writeSession(sessionId: string, body: SessionPatchBody, context: UpstreamCallContext): Promise<Session> {
      const payload = await call('write', 'PATCH', `${SESSIONS_PATH}/${encodeURIComponent(sessionId)}`, context, body)
      const session = sessionSchema.safeParse(payload)
      if (!session.success) throw new UpstreamBadResponseError('write', 'the updated session has an unexpected shape')
      return session.data
    },

    async close(): Promise<void> {
      if (options.dispatcher === undefined) await dispatcher.close()
    },
  }
}

/**
 * docs/aifi-upstream.md#how-the-proxy-uses-this-api: an item is the session only when its sessionId is the id;
 * its sessionToken counts only when it has no sessionId. An item whose sessionToken is the id but whose sessionId
 * names another session is that other session, and merging it into this one would overwrite this one's metadata
 * and events.
 */
function isSessionNamed(item: Record<string, unknown>, sessionId: string): boolean {
  if (item.sessionId !== undefined && item.sessionId !== null) return item.sessionId === sessionId
  return item.sessionToken === sessionId
}

/** AiFi's numbers keep their digits from this read to the write (docs/http-api.md#numbers). */
function parseJson(op: UpstreamOp, text: string): unknown {
  try {
    return parseJsonKeepingDigits(text)
  } catch {
    throw new UpstreamBadResponseError(op, 'the body is not JSON')
  }
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date. */
export function parseRetryAfter(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header
  if (value === undefined || value.trim() === '') return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim())
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000))
}
