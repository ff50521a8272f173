import { DiagLogLevel, diag } from '@opentelemetry/api'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, ConsoleSpanExporter } from '@opentelemetry/sdk-trace-base'
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions'
import { createOtelTracing } from './otel-tracing.ts'
import type { DiagnosticsLogger, Tracing } from './tracing.ts'
import type { TracesExporter } from './tracing-env.ts'

/**
 * The production set-up, loaded only when tracing is on. The exporter reads OTEL_EXPORTER_OTLP_* (endpoint,
 * headers, timeout, compression), the batch processor OTEL_BSP_*, the provider OTEL_TRACES_SAMPLER and the span
 * limits, and envDetector OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, which win over the default name.
 */
export function startSdkTracing(exporters: readonly TracesExporter[], logger: DiagnosticsLogger): Tracing {
  const warn = (message: string, ...args: unknown[]) => {
    const err = args.find((arg) => arg instanceof Error)
    logger.warn({ component: 'opentelemetry', ...(err === undefined ? {} : { err }) }, message)
  }
  diag.setLogger({ error: warn, warn, info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN)
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'aifi-merge-proxy' }))
    .merge(detectResources({ detectors: [envDetector] }))
  const spanProcessors = exporters.map(
    (name) => new BatchSpanProcessor(name === 'otlp' ? new OTLPTraceExporter() : new ConsoleSpanExporter()),
  )
  return createOtelTracing({ spanProcessors, resource })
}
