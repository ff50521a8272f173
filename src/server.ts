import type { AddressInfo } from 'node:net'
import { buildApp } from './app.ts'
import { ConfigError, loadConfig } from './config.ts'
import { createCoordination } from './redis/coordination.ts'
import { createLogger } from './logger.ts'
import { createMetrics } from './metrics.ts'
import { exitOnShutdownSignals } from './shutdown.ts'
import { logStartup } from './startup-line.ts'
import { startTracing } from './tracing/start-tracing.ts'
import { demoBanner, resolveUpstreamTarget } from './upstream-target.ts'

async function main(): Promise<void> {
  const config = loadConfig()
  const logger = createLogger(config)
  const target = await resolveUpstreamTarget(config)
  const metrics = createMetrics()
  const coordination = await createCoordination(config, { logger, metrics, aifiOrigin: new URL(target.baseUrl).origin })
  const tracing = await startTracing(config, logger)
  const app = await buildApp({
    config,
    aifiBaseUrl: target.baseUrl,
    auth: target.auth,
    lock: coordination.lock,
    idempotency: coordination.idempotency,
    limiter: coordination.limiter,
    sharedInbox: coordination.sharedInbox,
    metrics,
    loggerInstance: logger,
    tracing,
  })
  // Exports the spans still buffered, the drain's last requests included.
  app.addHook('onClose', () => tracing.shutdown())
  app.addHook('onClose', async () => {
    await coordination.close()
    await target.close()
  })

  exitOnShutdownSignals(app, { onGraceRanOut: () => coordination.lock.releaseAll() })

  await app.listen({ port: config.port, host: config.host })
  logStartup(logger, config, target)
  if (target.demo !== undefined) {
    logger.warn('AIFI_BASE_URL is unset: the upstream is the embedded AiFi simulator, not AiFi')
    process.stdout.write(`${demoBanner((app.server.address() as AddressInfo).port, target.demo)}\n`)
  }
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) process.stderr.write(`${error.message}\n`)
  else process.stderr.write(`aifi-merge-proxy failed to start: ${String(error)}\n`)
  process.exit(1)
})
