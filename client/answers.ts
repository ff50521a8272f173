import { MergeProxyError, UNEXPECTED_RESPONSE, redactSecret } from './errors.ts'
import type { ErrorBody, FieldError, MergeResult, Session } from './types.ts'

/** One HTTP answer, its body read as text within the attempt's timeout. */
export interface Answer {
  status: number
  headers: Headers
  text: string
}

interface AnswerContext {
  apiKey: string
  attempts: number
  idempotencyKey?: string
}

const MERGE_RESULTS: ReadonlySet<string> = new Set<MergeResult>(['applied', 'noop', 'dry-run'])

/** A non-2xx answer as the error the call rejects with: the proxy's error body, or a note that it had none. */
export function errorFromAnswer(answer: Answer, context: AnswerContext): MergeProxyError {
  const body = parseJson(answer.text)
  const requestId = answer.headers.get('x-request-id') ?? undefined
  const base = { status: answer.status, requestId, attempts: context.attempts, idempotencyKey: context.idempotencyKey }
  if (!isErrorBody(body)) {
    return new MergeProxyError({ ...base, type: UNEXPECTED_RESPONSE, message: `The proxy answered ${answer.status} without its error body` })
  }
  const redact = (text: string) => redactSecret(text, context.apiKey)
  const errors: FieldError[] = body.errors.map((item) => ({ error: redact(item.error), rule: redact(item.rule), field: redact(item.field) }))
  return new MergeProxyError({ ...base, requestId: requestId ?? body.requestId, type: body.type, message: redact(body.message), errors })
}

/** A 2xx answer's session and ETag; without them the answer cannot be used (and a PATCH may have been applied). */
export function readSessionAnswer(answer: Answer, context: AnswerContext): { session: Session; etag: string; requestId: string | undefined } {
  const body = parseJson(answer.text)
  const etag = answer.headers.get('etag')
  if (!isPlainObject(body) || etag === null) throw unusable(answer, context, 'without a session and an ETag')
  return { session: body as Session, etag, requestId: answer.headers.get('x-request-id') ?? undefined }
}

export function readMergeResult(answer: Answer, context: AnswerContext): { mergeResult: MergeResult; replayed: boolean } {
  const mergeResult = answer.headers.get('x-merge-result')
  if (mergeResult === null || !MERGE_RESULTS.has(mergeResult)) throw unusable(answer, context, 'without a known X-Merge-Result')
  return { mergeResult: mergeResult as MergeResult, replayed: answer.headers.get('idempotency-replayed') === 'true' }
}

function unusable(answer: Answer, context: AnswerContext, what: string): MergeProxyError {
  return new MergeProxyError({
    status: answer.status,
    type: UNEXPECTED_RESPONSE,
    message: `The proxy answered ${answer.status} ${what}`,
    requestId: answer.headers.get('x-request-id') ?? undefined,
    attempts: context.attempts,
    idempotencyKey: context.idempotencyKey,
  })
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isErrorBody(value: unknown): value is ErrorBody {
  if (!isPlainObject(value) || typeof value.message !== 'string' || typeof value.type !== 'string') return false
  if (value.requestId !== undefined && typeof value.requestId !== 'string') return false
  return Array.isArray(value.errors) && value.errors.every(isFieldError)
}

function isFieldError(value: unknown): value is FieldError {
  return isPlainObject(value) && typeof value.error === 'string' && typeof value.rule === 'string' && typeof value.field === 'string'
}
