import type { FastifyPluginCallback, FastifyRequest } from 'fastify'
import type { TraceParent, UpstreamTracer } from '../aifi/upstream-call.ts'
import { noUpstreamTracer } from '../aifi/upstream-call.ts'
import type { CycleTracer } from '../coordinator/cycle-trace.ts'
import { noCycleTracer } from '../coordinator/cycle-trace.ts'

// What the rest of the code sees of tracing (docs/operations.md#traces): the coordinator and the AiFi client
// declare the spans they need, and tracing implements them. This file loads no OpenTelemetry code: with tracing
// off the app runs on `noTracing`, and the SDK is never imported (see start-tracing.ts).

export interface Tracing extends CycleTracer, UpstreamTracer {
  /** @fastify/otel's request spans: registered in buildApp before any route, so that it sees them all. */
  readonly plugin: FastifyPluginCallback | undefined
  /** The request's own span, built into its context at the edge. */
  traceOf(request: FastifyRequest): TraceParent | undefined
  /** Exports what is still buffered. */
  shutdown(): Promise<void>
}

export const noTracing: Tracing = {
  plugin: undefined,
  traceOf: () => undefined,
  ...noCycleTracer,
  ...noUpstreamTracer,
  shutdown: async () => {},
}

/**
 * Where tracing says what it does: that it is on and where it exports, a collector that stopped answering, and
 * OpenTelemetry's own warnings (a bad OTEL_* value the SDK read itself).
 */
export interface DiagnosticsLogger {
  warn(object: object, message: string): void
  info(object: object, message: string): void
}
