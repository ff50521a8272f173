import type { SwaggerTransform, SwaggerTransformObject } from '@fastify/swagger'
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod'
import { errorHeadersWithStatus, errorTypesWithStatus } from './errors.ts'
import { ROUTE_INDEPENDENT_STATUSES, errorBodySchema, errorResponses } from './http/error-responses.ts'
import { REQUEST_HEADERS, RESPONSE_HEADERS, responseHeaderName, type OperationDocs, type ResponseHeaderName } from './http/documented-headers.ts'
import { ACCEPTED_MEDIA_TYPES } from './http/json-body-parser.ts'
import { sessionSchema } from './schemas.ts'

const SESSION_ANSWER =
  "The session as AiFi returned it, every field passed through, with an `ETag` of its metadata (`events` included). " +
  'A PATCH also answers `X-Merge-Result: applied | noop | dry-run`.'

// Set on every answer by src/app.ts, error answers included.
const ALWAYS: ResponseHeaderName[] = ['X-Request-Id']
// Set outside the catalogue: by src/http/method-not-allowed.ts.
const EXTRA_ERROR_HEADERS: Record<number, ResponseHeaderName[]> = { 405: ['Allow'] }

/** The headers an answer carries: the catalogue's for an error body, else the route's own for its status. */
function headersOf(status: number, isError: boolean, docs: OperationDocs): ResponseHeaderName[] {
  if (!isError) return [...ALWAYS, ...(docs.responseHeaders?.[status] ?? [])]
  return [...ALWAYS, ...errorHeadersWithStatus(status).map(responseHeaderName), ...(EXTRA_ERROR_HEADERS[status] ?? [])]
}

/**
 * The zod route schemas as OpenAPI, plus what they cannot say: the body media types the parser accepts, which
 * error types each error status carries (docs/http-api.md#errors), the statuses any route answers, the headers a
 * route reads and sets (its `schema.openapi`, read here only: it is never validated), and Swagger UI's example.
 */
export const transform: SwaggerTransform = (input) => {
  const { openapi: docs = {}, ...routeSchema } = (input.schema ?? {}) as { openapi?: OperationDocs; response?: Record<string, unknown> }
  if (input.schema?.hide) return jsonSchemaTransform(input as Parameters<typeof jsonSchemaTransform>[0])
  const routeResponses: Record<string, unknown> = { ...errorResponses(...ROUTE_INDEPENDENT_STATUSES), ...routeSchema.response }
  const withAll = { ...input, schema: { ...routeSchema, response: routeResponses } }
  const { schema, url } = jsonSchemaTransform(withAll as Parameters<typeof jsonSchemaTransform>[0])
  const responses = (schema.response ?? {}) as Record<string, Record<string, unknown>>
  for (const [status, entry] of Object.entries(responses)) {
    const declared = routeResponses[status]
    if (declared === errorBodySchema) entry.description = `Error: ${errorTypesWithStatus(Number(status)).join(', ')}`
    if (declared === sessionSchema) entry.description = SESSION_ANSWER
    // @fastify/swagger moves `headers` out of the schema into the response; the names are completed below.
    entry.headers = Object.fromEntries(headersOf(Number(status), declared === errorBodySchema, docs).map((name) => [name, RESPONSE_HEADERS[name].schema]))
  }
  const requestHeaders = ['X-Request-Id', ...(docs.requestHeaders ?? [])] as const
  const headers = { type: 'object', properties: Object.fromEntries(requestHeaders.map((name) => [name, documentedParameter(name)])) }
  const body = schema.body === undefined || docs.requestExample === undefined ? schema.body : { ...schema.body, examples: [docs.requestExample] }
  const consumes = schema.body === undefined ? {} : { consumes: ACCEPTED_MEDIA_TYPES }
  return { schema: { ...schema, body, headers, ...consumes }, url }
}

function documentedParameter(name: keyof typeof REQUEST_HEADERS) {
  const { description, schema } = REQUEST_HEADERS[name]
  return { ...schema, description }
}

type Document = {
  paths?: Record<string, Record<string, { responses?: Record<string, { headers?: Record<string, unknown> }> }>>
  components?: { schemas?: Record<string, unknown> }
}

/**
 * The named schemas, without the request-side copies the provider adds for each and no route uses, and without
 * the `$schema` and fragment `$id` it stamps on them (a 2020-12 `$id` may not carry a fragment); and every response
 * header as its full definition (a description, and `required` where every such answer carries it).
 */
export const transformObject: SwaggerTransformObject = (input) => {
  const document = jsonSchemaTransformObject(input) as Document
  for (const operation of Object.values(document.paths ?? {}).flatMap((path) => Object.values(path))) {
    for (const response of Object.values(operation.responses ?? {})) {
      const names = Object.keys(response.headers ?? {}) as ResponseHeaderName[]
      response.headers = Object.fromEntries(names.map((name) => [name, describeResponseHeader(name)]))
    }
  }
  const paths = JSON.stringify(document.paths ?? {})
  const schemas = Object.entries(document.components?.schemas ?? {})
    .filter(([id]) => paths.includes(`"#/components/schemas/${id}"`))
    .map(([id, schema]) => [id, Object.fromEntries(Object.entries(schema as object).filter(([key]) => key !== '$schema' && key !== '$id'))])
  return { ...document, components: { ...document.components, schemas: Object.fromEntries(schemas) } } as ReturnType<SwaggerTransformObject>
}

function describeResponseHeader(name: ResponseHeaderName) {
  const { description, schema, ...rest } = RESPONSE_HEADERS[name]
  return { description, ...('required' in rest ? { required: true } : {}), schema }
}
