import { randomBytes } from 'node:crypto'
import type { TestContext } from 'node:test'
import { SpanKind } from '@opentelemetry/api'
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { createOtelTracing } from '../src/tracing/otel-tracing.ts'
import { startTestApp, type TestAppOptions } from './helper.ts'

/** A caller's own trace: the ids it sends in `traceparent`, sampled. */
export function callerTrace() {
  const traceId = randomBytes(16).toString('hex')
  const spanId = randomBytes(8).toString('hex')
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` }
}

/** The test app with tracing on, every span kept in memory as soon as it ends. */
export async function startTracedApp(t: TestContext, options: TestAppOptions = {}) {
  const exporter = new InMemorySpanExporter()
  const tracing = createOtelTracing({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  t.after(() => tracing.shutdown())
  const testApp = await startTestApp(t, { ...options, tracing })
  return { ...testApp, spans: () => exporter.getFinishedSpans() }
}

export const isRequestSpan = (span: ReadableSpan) => span.attributes['aifi_proxy.request_id'] !== undefined && span.kind === SpanKind.SERVER
export const isCycleSpan = (span: ReadableSpan) => span.name === 'merge cycle'
export const isUpstreamSpan = (span: ReadableSpan) => span.attributes['aifi_proxy.upstream_op'] !== undefined

export const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId
export const idOf = (span: ReadableSpan) => span.spanContext().spanId
