import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { Metrics } from '../metrics.ts'

export interface OperationsOptions {
  metrics: Metrics
  /** Whether what replicas share (Redis, with REDIS_URL) answers. */
  isReady(): Promise<boolean>
  isDraining: () => boolean
}

const healthSchema = z.object({ status: z.literal('ok') }).describe('The process runs')
const readinessSchema = z
  .object({
    status: z.enum(['ready', 'unavailable']),
    draining: z.boolean(),
    lock: z.enum(['ok', 'down']).describe('The cross-replica lock store (Redis), when REDIS_URL is set'),
  })
  .describe('Ready (200), or not (503) while draining or while Redis is unreachable')

// No auth and no session data: probes and scrapers must reach these without credentials (docs/http-api.md#operations-endpoints).
const unauthenticated = { tags: ['operations'], security: [] }
// They call every few seconds: at info their request lines would be most of the log (docs/operations.md#logs).
const quiet = { requestLogLevel: 'debug' } as const

/** Unauthenticated operations endpoints (docs/http-api.md#operations-endpoints): they reveal no session data. */
export async function operationsRoutes(app: FastifyInstance, options: OperationsOptions): Promise<void> {
  const { metrics, isReady, isDraining } = options
  const routes = app.withTypeProvider<ZodTypeProvider>()

  routes.get(
    '/healthz',
    {
      config: quiet,
      schema: { ...unauthenticated, operationId: 'getHealth', summary: 'Liveness: 200 while the process runs', response: { 200: healthSchema } },
    },
    async () => ({ status: 'ok' as const }),
  )

  routes.get(
    '/readyz',
    {
      config: quiet,
      schema: {
        ...unauthenticated,
        operationId: 'getReadiness',
        summary: 'Readiness: 503 while draining for shutdown, or while Redis is unreachable when configured',
        response: { 200: readinessSchema, 503: readinessSchema },
      },
    },
    async (_request, reply) => {
      const draining = isDraining()
      const lockReady = await isReady()
      const ready = !draining && lockReady
      return reply
        .code(ready ? 200 : 503)
        .send({ status: ready ? 'ready' : 'unavailable', draining, lock: lockReady ? 'ok' : 'down' })
    },
  )

  routes.get(
    '/metrics',
    {
      config: quiet,
      schema: {
        ...unauthenticated,
        operationId: 'getMetrics',
        summary: 'Prometheus metrics (prefix aifi_proxy_) and the default process metrics',
        produces: [metrics.registry.contentType],
        response: { 200: z.string().describe('Prometheus text exposition format') },
      },
    },
    async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  )
}
