import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { buildApp } from './app.ts'
import { composeReplica, createLocalCoordination } from './composition.ts'
import type { Config } from './config.ts'
import { systemClock } from './deadline.ts'
import type { AuthSettings } from './http/auth.ts'
import { createLogger } from './logger.ts'
import { createMetrics } from './metrics.ts'
import { noTracing } from './tracing/tracing.ts'

/**
 * One process on its own memory, untraced: what the OpenAPI writer, benchmarks and a few tests need. It is built
 * by the same composition root as src/server.ts, and closes what it created.
 */
export async function buildLocalApp(
  config: Config,
  target: { baseUrl: string; auth: AuthSettings },
  options: { loggerInstance?: FastifyBaseLogger } = {},
): Promise<FastifyInstance> {
  const metrics = createMetrics()
  const logger = options.loggerInstance ?? createLogger({ logLevel: 'silent' })
  const coordination = createLocalCoordination(config)
  const replica = composeReplica(config, { aifiBaseUrl: target.baseUrl, auth: target.auth, coordination, metrics, tracing: noTracing, clock: systemClock, logger })
  const app = await buildApp({ config, auth: target.auth, replica, metrics, ...(options.loggerInstance ? { loggerInstance: options.loggerInstance } : {}) })
  app.addHook('onClose', async () => {
    await replica.close()
    metrics.close()
  })
  return app
}
