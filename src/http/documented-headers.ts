// Every header the proxy reads or sets, as the OpenAPI document declares it (docs/http-api.md#headers). Routes name
// the ones that apply to them (their `schema.openapi`); src/openapi.ts turns the names into parameters and response
// headers, so a header is described once whatever number of operations carries it.

interface HeaderDefinition {
  description: string
  schema: Record<string, unknown>
  /** A response header every answer of its status carries (the generated client types then say so). */
  required?: true
}

const TOKEN = { type: 'string', minLength: 1 }

export const REQUEST_HEADERS = {
  'If-Match': {
    description: 'Apply the patch only if the session\'s current ETag matches (RFC 9110 §13.1.1: strong comparison, `*` or a comma-separated list); else 412.',
    schema: { ...TOKEN, examples: ['"2f1c9e0a7b"'] },
  },
  'Idempotency-Key': {
    description: 'The first 2xx answer for this caller and key is kept for 24 h and replayed to a retry with the same request (`Idempotency-Replayed: true`).',
    schema: { type: 'string', minLength: 1, maxLength: 255 },
  },
  'X-Request-Id': {
    description: 'Kept as the request id when it is a plain token (1-128 of letters, digits, `_ . : -`); otherwise a fresh UUID is used.',
    schema: { type: 'string' },
  },
  traceparent: {
    description: 'W3C trace context: the request span continues this trace when tracing is on; ignored otherwise.',
    schema: { type: 'string', pattern: '^[\\da-f]{2}-[\\da-f]{32}-[\\da-f]{16}-[\\da-f]{2}$' },
  },
  tracestate: { description: 'W3C trace context, carried with `traceparent`.', schema: { type: 'string' } },
} as const satisfies Record<string, HeaderDefinition>

export const RESPONSE_HEADERS = {
  'X-Request-Id': { description: 'The request id, also in the error body and the logs.', schema: { type: 'string' }, required: true },
  ETag: {
    description: "A strong validator of the session's metadata (`events` included): send it back in `If-Match`.",
    schema: { type: 'string', pattern: '^"[^"]*"$' },
    required: true,
  },
  'X-Merge-Result': {
    description: '`applied`: written; `noop`: nothing to change, nothing written; `dry-run`: `?dryRun=true`, nothing written.',
    schema: { type: 'string', enum: ['applied', 'noop', 'dry-run'] },
    required: true,
  },
  'Idempotency-Replayed': { description: 'The first answer to this Idempotency-Key, replayed.', schema: { type: 'string', enum: ['true'] } },
  'Accept-Patch': { description: 'The patch format to send (RFC 5789).', schema: { type: 'string', enum: ['application/merge-patch+json'] }, required: true },
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 0 }, required: true },
  'WWW-Authenticate': { description: 'The scheme the credentials must use (RFC 9110 §11.6.1).', schema: { type: 'string', enum: ['Bearer'] }, required: true },
  Allow: { description: 'The methods this path serves.', schema: { type: 'string' }, required: true },
  Connection: { description: '`close` while the proxy drains for shutdown: the next request should go to another instance.', schema: { type: 'string', enum: ['close'] } },
} as const satisfies Record<string, HeaderDefinition>

export type RequestHeaderName = keyof typeof REQUEST_HEADERS
export type ResponseHeaderName = keyof typeof RESPONSE_HEADERS

/** The catalogue's header names (lower case, as set) by their documented spelling. */
const RESPONSE_HEADER_NAMES = new Map(Object.keys(RESPONSE_HEADERS).map((name) => [name.toLowerCase(), name as ResponseHeaderName]))

export function responseHeaderName(setName: string): ResponseHeaderName {
  const name = RESPONSE_HEADER_NAMES.get(setName.toLowerCase())
  if (name === undefined) throw new Error(`the error catalogue sets ${setName}, which src/http/documented-headers.ts does not describe`)
  return name
}

/** What a route's `schema.openapi` may say: documentation only, never validated (src/openapi.ts). */
export interface OperationDocs {
  /** Request headers the operation reads, besides X-Request-Id, which every route reads. */
  requestHeaders?: readonly RequestHeaderName[]
  /** Headers of its 2xx answers, by status, besides X-Request-Id. Error answers' headers come from the catalogue. */
  responseHeaders?: Readonly<Record<number, readonly ResponseHeaderName[]>>
  /** The request body Swagger UI fills in for "Try it out". */
  requestExample?: unknown
}

declare module 'fastify' {
  interface FastifySchema {
    openapi?: OperationDocs
  }
}
