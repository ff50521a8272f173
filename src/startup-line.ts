import type { Config } from './config.ts'
import type { UpstreamTarget } from './upstream-target.ts'

/** What the start-up line says, as fields and as a sentence (docs/operations.md#logs). */
export interface StartupLine {
  fields: { mode: 'service' | 'forward'; upstream: string; redis: string; tracing: string }
  message: string
}

/**
 * One line that says what this process is: its mode, what it calls, whether it shares Redis, and whether it traces.
 * Addresses are reduced to what identifies them: AiFi's origin, Redis's host and port; never a credential or path.
 */
export function describeStartup(config: Config, target: Pick<UpstreamTarget, 'auth' | 'demo' | 'baseUrl'>): StartupLine {
  const mode = target.auth.mode
  const origin = new URL(target.baseUrl).origin
  const upstream = target.demo === undefined ? origin : `the embedded AiFi simulator (${origin})`
  const redis = config.redisUrl === undefined ? 'off' : `on (${new URL(config.redisUrl).host})`
  const tracing = describeTracing(config)
  const message = `aifi-merge-proxy started: ${mode} mode, upstream ${upstream}, Redis ${redis}, tracing ${tracing}`
  return { fields: { mode, upstream, redis, tracing }, message }
}

function describeTracing(config: Config): string {
  if (config.tracesExporters.length === 0) return 'off'
  const targets = config.tracesExporters.map((name) => (name === 'otlp' ? config.tracesEndpoint : 'the console'))
  return `on (${targets.join(', ')})`
}

/** Logs the start-up line at info. */
export function logStartup(logger: { info(object: object, message: string): void }, config: Config, target: UpstreamTarget): void {
  const { fields, message } = describeStartup(config, target)
  logger.info({ startup: fields }, message)
}
