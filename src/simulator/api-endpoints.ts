import type { IncomingMessage, ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseJsonLeniently } from '../merge/json-text.ts'
import { SESSIONS_PATH, sessionPatchBodySchema, type FieldError, type Session, type SessionPatchBody } from '../schemas.ts'
import { buildInvalidBody, describeZodIssues } from './aifi-error-body.ts'
import type { CounterRecorder } from './counters.ts'
import type { Fault, FaultQueues } from './fault-queues.ts'
import { decodeSegment, readBody, resetConnection, sendAnswer, type Answer } from './http-io.ts'
import { parseListQuery } from './list-query.ts'
import type { SessionStore } from './session-store.ts'
import type { TokenBucket } from './token-bucket.ts'

const SESSION_PATH_PREFIX = `${SESSIONS_PATH}/`
const NOT_FOUND: Answer = { status: 404 }

export interface ApiDeps {
  store: SessionStore
  faults: FaultQueues
  latencyMs: { read: number; write: number }
  limiter: TokenBucket
  counters: CounterRecorder
  token: string
  /** Aborted by close(), so a call waiting out its latency gives up instead of holding the process open. */
  closing: AbortSignal
}

type ApiRoute =
  | { op: 'read' }
  /**
   * `sessionId` is undefined when the path segment cannot be percent-decoded: no session can match it, and
   * the counters key the call by the segment as sent.
   */
  | { op: 'write'; sessionId: string | undefined; counterKey: string }

type Outcome = { answer: Answer } | { fault: Fault }

/**
 * AiFi's two endpoints, in the order a real gateway would meet a call: rate limit, auth, then the
 * endpoint. Injected faults and latency act only here, after auth, so a 401 never uses up a fault.
 */
export async function handleApiRequest(req: IncomingMessage, res: ServerResponse, deps: ApiDeps): Promise<void> {
  const url = req.url ?? '/'
  const method = req.method ?? 'GET'
  const requestId = req.headers['x-request-id']
  const traceparent = req.headers.traceparent
  const logged = deps.counters.recordRequest({
    method,
    url,
    requestId: typeof requestId === 'string' ? requestId : undefined,
    authorization: req.headers.authorization !== undefined,
    traceparent: typeof traceparent === 'string' ? traceparent : undefined,
  })
  res.on('finish', () => {
    logged.status = res.statusCode
  })

  const queryStart = url.indexOf('?')
  const pathname = queryStart === -1 ? url : url.slice(0, queryStart)
  const route = matchRoute(method, pathname)
  const rawBody = await readBody(req)
  if (!route) return sendAnswer(res, NOT_FOUND)
  const sent = route.op === 'write' ? parseJsonLeniently(rawBody) : undefined
  if (route.op === 'write') deps.counters.recordPatchBody(route.counterKey, sent === undefined ? rawBody : sent)

  if (!deps.limiter.tryTake()) {
    deps.counters.recordRateLimited()
    return sendAnswer(res, { status: 503, text: 'Service Unavailable' })
  }
  if (!hasValidBearer(req.headers.authorization, deps.token)) return sendAnswer(res, { status: 401 })

  if (route.op === 'write') res.on('close', deps.counters.startPatch(route.counterKey))
  const fault = deps.faults.take(route.op)
  const latencyMs = deps.latencyMs[route.op]
  // Even a 0 ms timer costs about a millisecond per call, which a benchmark would notice.
  if (latencyMs > 0 && fault?.kind !== 'hang') await sleep(latencyMs, undefined, { signal: deps.closing })

  const outcome = route.op === 'read'
    ? (fault ? { fault } : { answer: answerList(deps.store, new URLSearchParams(url.slice(pathname.length))) })
    : decideWrite(deps.store, checkWrite(deps.store, route.sessionId, sent), fault)
  if ('answer' in outcome) return sendAnswer(res, outcome.answer)
  return actOnFault(req, res, outcome.fault)
}

/** The list and the PATCH of one session; anything else is not part of this stand-in. */
function matchRoute(method: string, pathname: string): ApiRoute | undefined {
  if (method === 'GET' && pathname === SESSIONS_PATH) return { op: 'read' }
  if (method !== 'PATCH' || !pathname.startsWith(SESSION_PATH_PREFIX)) return undefined
  const rawSessionId = pathname.slice(SESSION_PATH_PREFIX.length)
  if (rawSessionId === '' || rawSessionId.includes('/')) return undefined
  const sessionId = decodeSegment(rawSessionId)
  return { op: 'write', sessionId, counterKey: sessionId ?? rawSessionId }
}

/** `Bearer` is matched case-insensitively (RFC 9110 §11.1: auth schemes are case-insensitive). */
function hasValidBearer(authorization: string | undefined, token: string): boolean {
  const match = /^bearer +(\S+) *$/i.exec(authorization ?? '')
  return match?.[1] === token
}

/** `GET /api/admin/v2/sessions`: the envelope's `next` is the last item's id, only while more remain. */
function answerList(store: SessionStore, params: URLSearchParams): Answer {
  const query = parseListQuery(params)
  if (!query.ok) return { status: 400, json: query.error }
  const page = store.list(query.filter)
  const last = page.items.at(-1)
  const next = page.hasMore && last ? String(last.id) : null
  return { status: 200, json: { data: page.items, pagination: { next, count: page.items.length } } }
}

type WriteCheck =
  | { ok: true; sessionId: string; body: SessionPatchBody; current: Session }
  | { ok: false; answer: Answer }

/**
 * Everything `PATCH /api/admin/v2/sessions/{id}` checks before it writes, the body first and then the id.
 * The body must be a JSON object with only `suspectedFraud` (exactly `true`) and `metadata` (an object).
 * What is stored is the parsed body itself, not the schema's output, so metadata is kept exactly as sent.
 */
function checkWrite(store: SessionStore, sessionId: string | undefined, sent: unknown): WriteCheck {
  if (sent === undefined) return { ok: false, answer: invalidBody([]) }
  const checked = sessionPatchBodySchema.safeParse(sent)
  if (!checked.success) return { ok: false, answer: invalidBody(describeZodIssues(checked.error.issues)) }
  const current = sessionId === undefined ? undefined : store.get(sessionId)
  if (sessionId === undefined || current === undefined) return { ok: false, answer: NOT_FOUND }
  return { ok: true, sessionId, body: sent as SessionPatchBody, current }
}

function invalidBody(errors: FieldError[]): Answer {
  return { status: 400, json: buildInvalidBody('Invalid request body', errors) }
}

/**
 * A write under a fault: 'ignore-write' answers as if it wrote but keeps the old state (so the proxy's
 * verification must notice); `applyFirst` lands the write and then fails, the ambiguous case.
 */
function decideWrite(store: SessionStore, check: WriteCheck, fault: Fault | undefined): Outcome {
  if (!check.ok) return fault && fault.kind !== 'ignore-write' ? { fault } : { answer: check.answer }
  if (fault?.kind === 'ignore-write') return { answer: { status: 200, json: check.current } }
  if (!fault) return { answer: { status: 200, json: store.applyPatch(check.sessionId, check.body) } }
  if (fault.applyFirst) store.applyPatch(check.sessionId, check.body)
  return { fault }
}

function actOnFault(req: IncomingMessage, res: ServerResponse, fault: Fault): void {
  switch (fault.kind) {
    case 'hang':
      // Never answered: the client's timeout or close() ends it.
      return
    case 'reset':
      return resetConnection(req)
    default:
      return sendAnswer(res, faultAnswer(fault))
  }
}

function faultAnswer(fault: Fault): Answer {
  const status = fault.status ?? 500
  const headers = fault.headers ?? {}
  if (fault.body === undefined) return { status, headers }
  if (typeof fault.body === 'string') return { status, text: fault.body, headers }
  return { status, json: fault.body, headers }
}
