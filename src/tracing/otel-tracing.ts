import { FastifyOtelInstrumentation } from '@fastify/otel'
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, propagation, trace, type Context, type Tracer } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import type { Resource } from '@opentelemetry/resources'
import { BasicTracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace-base'
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions'
import { SESSIONS_PATH } from '../schemas.ts'
import { ATTR, createCycleTrace } from './cycle-trace.ts'
import type { TraceParent, UpstreamCallTrace } from '../aifi/upstream-call.ts'
import type { Tracing } from './tracing.ts'

/**
 * Tracing on (docs/operations.md#traces): request spans from @fastify/otel, and this proxy's own cycle and
 * upstream call spans, all from one tracer provider owned by the returned object. Tests pass an in-memory
 * exporter's processor; start-tracing.ts passes the OTLP one.
 */
export function createOtelTracing(options: { spanProcessors: SpanProcessor[]; resource?: Resource }): Tracing {
  const provider = new BasicTracerProvider({ spanProcessors: options.spanProcessors, ...(options.resource ? { resource: options.resource } : {}) })
  const tracer = provider.getTracer('aifi-merge-proxy')
  // @fastify/otel continues a caller's traceparent through the API's global propagator, so there must be one;
  // the upstream calls inject with the same. W3C trace context only: a caller's baggage is not carried to AiFi.
  if (propagation.fields().length === 0) propagation.setGlobalPropagator(new W3CTraceContextPropagator())

  const instrumentation = new FastifyOtelInstrumentation({
    // One span per request: hook and handler spans would only split the request's own span into pieces.
    instrumentHooks: false,
    instrumentHandler: false,
    // An exception event carries a message and a stack; the span's status and status code say enough.
    recordExceptions: false,
    // The API only: probes and scrapes every few seconds would bury the traces worth reading.
    ignorePaths: ({ url }) => !url.startsWith('/api/'),
    requestHook: (span, request) => {
      const route = request.routeOptions.url
      span.updateName(route === undefined ? request.method : `${request.method} ${route}`)
      // @fastify/otel records the whole URL; a query string is the caller's and could hold anything.
      span.setAttribute(ATTR_URL_PATH, request.url.split('?', 1)[0]!)
      span.setAttribute(ATTR.requestId, request.id)
    },
  })
  instrumentation.setTracerProvider(provider)

  return {
    plugin: instrumentation.plugin(),
    traceOf: (request) => request.opentelemetry().span?.spanContext(),
    startCycle: () => createCycleTrace(tracer),
    startUpstreamCall: (op, method, url, parent) => startUpstreamCall(tracer, op, method, url, parent),
    shutdown: () => provider.shutdown(),
  }
}

const TEMPLATES = { read: SESSIONS_PATH, write: `${SESSIONS_PATH}/{sessionId}` }

function startUpstreamCall(tracer: Tracer, op: 'read' | 'write', method: string, url: string, parent: TraceParent | undefined): UpstreamCallTrace {
  const parentContext: Context = parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parent)
  const target = new URL(url)
  const span = tracer.startSpan(
    `${method} ${TEMPLATES[op]}`,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        [ATTR_HTTP_REQUEST_METHOD]: method,
        [ATTR_URL_FULL]: url,
        [ATTR_SERVER_ADDRESS]: target.hostname,
        [ATTR_SERVER_PORT]: Number(target.port || (target.protocol === 'https:' ? 443 : 80)),
        [ATTR.upstreamOp]: op,
      },
    },
    parentContext,
  )
  const headers: Record<string, string> = {}
  propagation.inject(trace.setSpan(parentContext, span), headers)
  return {
    headers,
    end(outcome) {
      const status = /^\d{3}$/.test(outcome) ? Number(outcome) : undefined
      if (status !== undefined) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status)
      if (status === undefined || status >= 400) {
        span.setAttribute(ATTR_ERROR_TYPE, outcome)
        span.setStatus({ code: SpanStatusCode.ERROR })
      }
      span.end()
    },
  }
}
