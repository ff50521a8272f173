import { readFileSync } from 'node:fs'
import swagger, { type SwaggerTransform, type SwaggerTransformObject } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { errorTypesWithStatus } from './errors.ts'
import { errorBodySchema } from './http/error-responses.ts'
import { ACCEPTED_MEDIA_TYPES } from './http/json-body-parser.ts'
import { sessionSchema } from './schemas.ts'

// `../package.json` from both src/ and dist/. Read at run time: importing it would put it outside tsc's rootDir.
const packageVersion = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

// Response schemas every route shares, named once under components.schemas instead of repeated inline. The
// global registry, because that is also where `.describe()` keeps descriptions, which a separate one would lose.
z.globalRegistry.add(errorBodySchema, { ...z.globalRegistry.get(errorBodySchema), id: 'Error' })
z.globalRegistry.add(sessionSchema, { ...z.globalRegistry.get(sessionSchema), id: 'Session' })

const SESSION_ANSWER =
  "The session as AiFi returned it, every field passed through, with an `ETag` of its metadata (`events` included). " +
  'A PATCH also answers `X-Merge-Result: applied | noop | dry-run`.'

/**
 * The zod route schemas as OpenAPI, plus what they cannot say: the body media types the parser accepts, and
 * which error types each error status carries (docs/http-api.md#errors).
 */
const transform: SwaggerTransform = (input) => {
  const routeResponses = (input.schema?.response ?? {}) as Record<string, unknown>
  const { schema, url } = jsonSchemaTransform(input as Parameters<typeof jsonSchemaTransform>[0])
  const responses = (schema.response ?? {}) as Record<string, Record<string, unknown>>
  for (const [status, entry] of Object.entries(responses)) {
    const declared = routeResponses[status]
    if (declared === errorBodySchema) entry.description = `Error: ${errorTypesWithStatus(Number(status)).join(', ')}`
    if (declared === sessionSchema) entry.description = SESSION_ANSWER
  }
  const consumes = schema.body === undefined ? {} : { consumes: ACCEPTED_MEDIA_TYPES }
  return { schema: { ...schema, ...consumes }, url }
}

/**
 * The named schemas, without the request-side copies the provider adds for each and no route uses, and without
 * the `$schema` and fragment `$id` it stamps on them (a 2020-12 `$id` may not carry a fragment).
 */
const transformObject: SwaggerTransformObject = (input) => {
  const document = jsonSchemaTransformObject(input) as { paths?: unknown; components?: { schemas?: Record<string, unknown> } }
  const paths = JSON.stringify(document.paths ?? {})
  const schemas = Object.entries(document.components?.schemas ?? {})
    .filter(([id]) => paths.includes(`"#/components/schemas/${id}"`))
    .map(([id, schema]) => [id, Object.fromEntries(Object.entries(schema as object).filter(([key]) => key !== '$schema' && key !== '$id'))])
  return { ...document, components: { ...document.components, schemas: Object.fromEntries(schemas) } } as ReturnType<SwaggerTransformObject>
}

/**
 * `/openapi.json` and `/docs` (docs/http-api.md#operations-endpoints). Registered before the routes, which @fastify/swagger collects as they
 * are added. Nothing in the document depends on the configuration or the run (no servers, ports or keys), so
 * the committed openapi/openapi.json can be compared with what is served.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'aifi-merge-proxy',
        version: packageVersion,
        description:
          "A drop-in proxy for AiFi's session PATCH that merges metadata (RFC 7396) instead of overwriting it, " +
          "keeps AiFi's `events` and serializes writers per session. Every error has AiFi's shape plus `requestId`.",
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'Service mode: a caller key from PROXY_API_KEYS. Forward mode: your own AiFi admin token.',
          },
        },
      },
      security: [{ bearer: [] }],
    },
    transform,
    transformObject,
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
}
