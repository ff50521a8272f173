import type { AddressInfo } from 'node:net'
import { buildApp } from './app.ts'
import { composeReplica, createLocalCoordination, type Coordination } from './composition.ts'
import { ConfigError, loadConfig, type Config } from './config.ts'
import { systemClock } from './deadline.ts'
import { createLogger } from './logger.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { exitOnShutdownSignals } from './shutdown.ts'
import { logStartup } from './startup-line.ts'
import { startTracing } from './tracing/start-tracing.ts'
import { demoBanner, resolveUpstreamTarget } from './upstream-target.ts'

async function main(): Promise<void> {
  const config = loadConfig()
  const logger = createLogger(config)
  const target = await resolveUpstreamTarget(config)
  const metrics = createMetrics()
  const tracing = await startTracing(config, logger)
  const shared = await connectCoordination(config, { logger, metrics, aifiOrigin: new URL(target.baseUrl).origin })
  const { coordination } = shared
  const replica = composeReplica(config, { aifiBaseUrl: target.baseUrl, auth: target.auth, coordination, metrics, tracing, clock: systemClock, logger })
  const app = await buildApp({ config, auth: target.auth, replica, metrics, loggerInstance: logger, tracing })
  // Exports the spans still buffered, the drain's last requests included.
  app.addHook('onClose', () => tracing.shutdown())
  app.addHook('onClose', async () => {
    await replica.close()
    await shared.close()
    await target.close()
    metrics.close()
  })

  exitOnShutdownSignals(app, { onGraceRanOut: () => coordination.releaseAll() })

  await app.listen({ port: config.port, host: config.host })
  logStartup(logger, config, target)
  if (target.demo !== undefined) {
    logger.warn('AIFI_BASE_URL is unset: the upstream is the embedded AiFi simulator, not AiFi')
    process.stdout.write(`${demoBanner((app.server.address() as AddressInfo).port, target.demo)}\n`)
  }
}

/** What replicas share: Redis with REDIS_URL; without it, memory, and the Redis client is not even loaded (about 10 MB). */
async function connectCoordination(
  config: Config,
  deps: { logger: ReturnType<typeof createLogger>; metrics: Metrics; aifiOrigin: string },
): Promise<{ coordination: Coordination; close(): Promise<void> }> {
  if (config.redisUrl === undefined) return { coordination: createLocalCoordination(config), close: async () => {} }
  const { connectRedisCoordination } = await import('./redis/redis-coordination.ts')
  return connectRedisCoordination({ ...config, redisUrl: config.redisUrl }, deps)
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) process.stderr.write(`${error.message}\n`)
  else process.stderr.write(`aifi-merge-proxy failed to start: ${String(error)}\n`)
  process.exit(1)
})
