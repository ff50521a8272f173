import type { FastifyInstance } from 'fastify'
import type { SessionLock } from '../coordinator/session-lock.ts'
import type { Metrics } from '../metrics.ts'

export interface OperationsOptions {
  metrics: Metrics
  lock: SessionLock
  isDraining: () => boolean
}

/** Unauthenticated operations endpoints (SPEC §3.3): they reveal no session data. */
export async function operationsRoutes(app: FastifyInstance, options: OperationsOptions): Promise<void> {
  const { metrics, lock, isDraining } = options

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }))

  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    const draining = isDraining()
    const lockReady = await lock.isReady()
    const ready = !draining && lockReady
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', draining, lock: lockReady ? 'ok' : 'down' })
  })

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
  })
}
