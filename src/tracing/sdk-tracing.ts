import { DiagLogLevel, diag } from '@opentelemetry/api'
import { setGlobalErrorHandler } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, ConsoleSpanExporter } from '@opentelemetry/sdk-trace-base'
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions'
import { boundedBy, reportExportFailures } from './export-reporting.ts'
import { createOtelTracing } from './otel-tracing.ts'
import type { DiagnosticsLogger, Tracing } from './tracing.ts'
import type { TracesExporter } from './tracing-env.ts'

/** How long the final flush at shutdown may take once the drain is over (docs/operations.md#traces). */
export const FINAL_FLUSH_MS = 1_000

const COMPONENT = { component: 'opentelemetry' }

/**
 * The production set-up, loaded only when tracing is on. The exporter reads OTEL_EXPORTER_OTLP_* (endpoint,
 * headers, timeout, compression), the batch processor OTEL_BSP_*, the provider OTEL_TRACES_SAMPLER and the span
 * limits, and envDetector OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, which win over the default name.
 */
export function startSdkTracing(exporters: readonly TracesExporter[], endpoint: string, logger: DiagnosticsLogger): Tracing {
  const otlp = reportExportFailures(new OTLPTraceExporter(), endpoint, logger)
  // OpenTelemetry's own complaints, as one line with a message: its default handler logs a JSON-encoded stack.
  const warn = (message: string, ...args: unknown[]) => {
    const reason = args.find((arg): arg is Error => arg instanceof Error)?.message
    logger.warn({ ...COMPONENT, ...(reason === undefined ? {} : { reason }) }, message)
  }
  diag.setLogger({ error: warn, warn, info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN)
  setGlobalErrorHandler((error) => {
    // An export failure has been said, once, by the exporter's wrapper.
    if (otlp.isReported(error)) return
    logger.warn({ ...COMPONENT, reason: error instanceof Error ? error.message : String(error) }, 'OpenTelemetry error')
  })

  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'aifi-merge-proxy' }))
    .merge(detectResources({ detectors: [envDetector] }))
  const spanProcessors = exporters.map((name) => new BatchSpanProcessor(name === 'otlp' ? otlp.exporter : new ConsoleSpanExporter()))
  const tracing = createOtelTracing({ spanProcessors, resource })
  logger.info({ ...COMPONENT, exporters, ...(exporters.includes('otlp') ? { endpoint } : {}) }, describe(exporters, endpoint))

  return {
    ...tracing,
    shutdown: () =>
      boundedBy(FINAL_FLUSH_MS, tracing.shutdown(), () =>
        logger.warn({ ...COMPONENT, endpoint, waitedMs: FINAL_FLUSH_MS }, 'spans not exported at shutdown were dropped: the collector did not answer in time'),
      ),
  }
}

function describe(exporters: readonly TracesExporter[], endpoint: string): string {
  const targets = exporters.map((name) => (name === 'otlp' ? `OTLP/HTTP to ${endpoint}` : 'the console (stdout)'))
  return `tracing on: spans are exported to ${targets.join(' and ')}`
}
