import type { Config } from '../config.ts'
import { noTracing, type DiagnosticsLogger, type Tracing } from './tracing.ts'

/**
 * Tracing as configured (docs/operations.md#traces). Off, this is `noTracing` and the OpenTelemetry SDK is never
 * imported, so it costs nothing; on, the SDK is loaded here, once, before the app is built.
 */
export async function startTracing(config: Config, logger: DiagnosticsLogger): Promise<Tracing> {
  if (config.tracesExporters.length === 0) return noTracing
  const { startSdkTracing } = await import('./sdk-tracing.ts')
  return startSdkTracing(config.tracesExporters, config.tracesEndpoint, logger)
}
