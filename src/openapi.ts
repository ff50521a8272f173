import { readFileSync } from 'node:fs'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { errorBodySchema } from './http/error-responses.ts'
import { transform, transformObject } from './openapi-transform.ts'
import { sessionSchema } from './schemas.ts'

// `../package.json` from both src/ and dist/. Read at run time: importing it would put it outside tsc's rootDir.
const packageVersion = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

// Response schemas every route shares, named once under components.schemas instead of repeated inline. The
// global registry, because that is also where `.describe()` keeps descriptions, which a separate one would lose.
z.globalRegistry.add(errorBodySchema, { ...z.globalRegistry.get(errorBodySchema), id: 'Error' })
z.globalRegistry.add(sessionSchema, { ...z.globalRegistry.get(sessionSchema), id: 'Session' })

// Fixed, so the document depends on no setting: the origin that serves it (what Swagger UI at /docs calls), what
// `npm start` listens on, and a deployment's own base URL.
const SERVERS = [
  { url: '/', description: 'The proxy that serves this document' },
  { url: 'http://127.0.0.1:8080', description: '`npm start`: the proxy in front of the embedded AiFi simulator, on loopback' },
  {
    url: '{proxyBaseUrl}',
    description: "The proxy in a deployment: the base URL services use instead of AiFi's origin",
    variables: { proxyBaseUrl: { default: 'http://aifi-merge-proxy:8080', description: "The proxy's base URL" } },
  },
]

const TAGS = [
  { name: 'sessions', description: "AiFi's session routes, served by the proxy: a merging PATCH and a GET with an ETag" },
  { name: 'operations', description: 'Probes and metrics: no credentials, no session data' },
]

export interface OpenApiOptions {
  /** Swagger UI at /docs; off in production (docs/http-api.md#operations-endpoints). */
  serveUi: boolean
}

/**
 * `/openapi.json`, and `/docs` unless `serveUi` is false (docs/http-api.md#operations-endpoints). Registered before
 * the routes, which @fastify/swagger collects as they are added. Nothing in the document depends on the
 * configuration or the run (the servers are fixed; no ports or keys), so the committed openapi/openapi.json can
 * be compared with what is served.
 */
export async function registerOpenApi(app: FastifyInstance, options: OpenApiOptions): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'aifi-merge-proxy',
        version: packageVersion,
        description:
          "A drop-in proxy for AiFi's session PATCH that merges metadata (RFC 7396) instead of overwriting it, " +
          "keeps AiFi's `events` and serializes writers per session. Every error has AiFi's shape plus `requestId`.",
        // package.json's UNLICENSED: an internal service, no licence granted.
        license: { name: 'Proprietary (UNLICENSED): internal use only' },
      },
      servers: SERVERS,
      tags: TAGS,
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
  if (options.serveUi) await app.register(swaggerUi, { routePrefix: '/docs' })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
}
