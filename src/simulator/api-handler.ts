import type { IncomingMessage, ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { answerList, answerSession, checkWrite, type WriteCheck } from './api-endpoints.ts'
import { hasValidBearer, matchApiRoute } from './api-routes.ts'
import type { CounterRecorder } from './counters.ts'
import type { Fault, FaultQueues } from './fault-queues.ts'
import { parseJsonLeniently } from '../merge/json-tree.ts'
import { readBody, resetConnection, sendAnswer, type Answer } from './http-io.ts'
import type { SessionStore } from './session-store.ts'
import type { TokenBucket } from './token-bucket.ts'

type Outcome = { answer: Answer } | { fault: Fault }

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

/**
 * AiFi's two endpoints, in the order a real gateway would meet a call: rate limit, auth, then the
 * endpoint. Injected faults and latency act only here, after auth, so a 401 never uses up a fault.
 */
export async function handleApiRequest(req: IncomingMessage, res: ServerResponse, deps: ApiDeps): Promise<void> {
  const url = req.url ?? '/'
  const method = req.method ?? 'GET'
  const requestId = req.headers['x-request-id']
  const logged = deps.counters.recordRequest({
    method,
    url,
    requestId: typeof requestId === 'string' ? requestId : undefined,
    authorization: req.headers.authorization !== undefined,
  })
  res.on('finish', () => {
    logged.status = res.statusCode
  })

  const queryStart = url.indexOf('?')
  const pathname = queryStart === -1 ? url : url.slice(0, queryStart)
  const route = matchApiRoute(method, pathname)
  const rawBody = await readBody(req)
  if (!route) return sendAnswer(res, { status: 404 })
  const sessionKey = route.op === 'write' ? (route.sessionId ?? route.rawSessionId) : undefined
  // Recorded as JSON when it is JSON, else as the raw text (not `??`: a body of `null` is JSON).
  const parsed = parseJsonLeniently(rawBody)
  if (sessionKey !== undefined) deps.counters.recordPatchBody(sessionKey, parsed === undefined ? rawBody : parsed)

  if (!deps.limiter.tryTake()) {
    deps.counters.recordRateLimited()
    return sendAnswer(res, { status: 503, text: 'Service Unavailable' })
  }
  if (!hasValidBearer(req.headers.authorization, deps.token)) return sendAnswer(res, { status: 401 })

  if (sessionKey !== undefined) res.on('close', deps.counters.startPatch(sessionKey))
  const fault = deps.faults.take(route.op)
  const latencyMs = deps.latencyMs[route.op]
  // Even a 0 ms timer costs about a millisecond per call, which a benchmark would notice.
  if (latencyMs > 0 && fault?.kind !== 'hang') await sleep(latencyMs, undefined, { signal: deps.closing })

  const outcome = route.op === 'read'
    ? (fault ? { fault } : { answer: answerList(deps.store, new URLSearchParams(url.slice(pathname.length))) })
    : decideWrite(deps.store, checkWrite(deps.store, route.sessionId, rawBody), fault)
  if ('answer' in outcome) return sendAnswer(res, outcome.answer)
  return actOnFault(req, res, outcome.fault)
}

/**
 * A write under a fault: 'ignore-write' answers as if it wrote but keeps the old state (so the proxy's
 * verification must notice); `applyFirst` lands the write and then fails, the ambiguous case.
 */
function decideWrite(store: SessionStore, check: WriteCheck, fault: Fault | undefined): Outcome {
  if (!check.ok) return fault && fault.kind !== 'ignore-write' ? { fault } : { answer: check.answer }
  if (fault?.kind === 'ignore-write') return { answer: answerSession(check.current) }
  if (!fault) return { answer: answerSession(store.applyPatch(check.sessionId, check.body)) }
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
