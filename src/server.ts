import type { AddressInfo } from 'node:net'
import { buildApp } from './app.ts'
import { ConfigError, loadConfig } from './config.ts'
import { createCoordination } from './redis/coordination.ts'
import { createLogger } from './logger.ts'
import { createMetrics } from './metrics.ts'
import { demoBanner, resolveUpstreamTarget } from './upstream-target.ts'

async function main(): Promise<void> {
  const config = loadConfig()
  const logger = createLogger(config)
  const target = await resolveUpstreamTarget(config)
  const metrics = createMetrics()
  const coordination = await createCoordination(config, { logger, metrics, aifiOrigin: new URL(target.baseUrl).origin })
  const app = await buildApp({
    config,
    aifiBaseUrl: target.baseUrl,
    auth: target.auth,
    lock: coordination.lock,
    idempotency: coordination.idempotency,
    limiter: coordination.limiter,
    metrics,
    loggerInstance: logger,
  })
  app.addHook('onClose', async () => {
    await coordination.close()
    await target.close()
  })

  // docs/operations.md#graceful-shutdown: drain, then exit 0, or 1 when SHUTDOWN_GRACE_MS ran out first. Only the first signal is caught: a
  // second one ends the process at once, the operator's way out of a drain they do not want to wait for.
  const signals = ['SIGTERM', 'SIGINT'] as const
  const shutDown = (signal: NodeJS.Signals) => {
    for (const caught of signals) process.removeListener(caught, shutDown)
    logger.info({ signal, graceMs: config.shutdownGraceMs, inFlight: app.sessionQueues.inFlight() }, 'shutting down: draining')
    app.gracefulClose().then(
      async (drained) => {
        if (drained) logger.info('drained and closed')
        else logger.error({ inFlight: app.sessionQueues.inFlight() }, 'SHUTDOWN_GRACE_MS ran out before the drain finished')
        // Locks of cycles cut short are handed back, so other replicas need not wait for their leases to expire.
        if (!drained) await coordination.lock.releaseAll()
        process.exit(drained ? 0 : 1)
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  for (const signal of signals) process.on(signal, shutDown)

  await app.listen({ port: config.port, host: config.host })
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
