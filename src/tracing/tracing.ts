import type { SpanContext } from '@opentelemetry/api'
import type { FastifyPluginCallback, FastifyRequest } from 'fastify'
import type { UpstreamOp } from '../aifi/upstream-errors.ts'
import type { Settlement } from '../coordinator/settlement.ts'
import type { PatchContext } from '../request-context.ts'

// What the rest of the code sees of tracing (docs/operations.md#traces). This file loads no OpenTelemetry code:
// with tracing off the app runs on `noTracing`, and the SDK is never imported (see start-tracing.ts).

/** The span that the upstream calls made for a context are children of: its request's span, or its cycle's. */
export type TraceParent = SpanContext

/** One write cycle's span. */
export interface CycleTrace {
  /**
   * The patches the cycle serves, known once its batch is taken: the first one's request span (the caller whose
   * request id goes upstream) is the parent, every other one is linked. Waits recorded before count as well.
   */
  serve(patches: readonly PatchContext[]): void
  /** Adds to the cycle's wait for its session's turn and lock, or for the outbound rate limit. */
  waited(kind: 'turn' | 'quota', ms: number): void
  /** The parent of the cycle's upstream calls; undefined before `serve` and while tracing is off. */
  readonly parent: TraceParent | undefined
  /** Ends the span with the outcome of the patches served (one not settled counts as failed). */
  end(settlements: ReadonlyMap<PatchContext, Settlement>): void
}

/** One attempt sent to AiFi. */
export interface UpstreamCallTrace {
  /** `traceparent` (and `tracestate`) for the attempt; none while tracing is off. */
  readonly headers: Readonly<Record<string, string>>
  /** `outcome` as the upstream metrics count it: the HTTP status, or `timeout` / `error`. */
  end(outcome: string): void
}

export interface Tracing {
  /** @fastify/otel's request spans: registered in buildApp before any route, so that it sees them all. */
  readonly plugin: FastifyPluginCallback | undefined
  /** The request's own span, built into its context at the edge. */
  traceOf(request: FastifyRequest): TraceParent | undefined
  startCycle(): CycleTrace
  startUpstreamCall(op: UpstreamOp, method: string, url: string, parent: TraceParent | undefined): UpstreamCallTrace
  /** Exports what is still buffered. */
  shutdown(): Promise<void>
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({})
const noCycle: CycleTrace = { serve: () => {}, waited: () => {}, parent: undefined, end: () => {} }
const noCall: UpstreamCallTrace = { headers: NO_HEADERS, end: () => {} }

export const noTracing: Tracing = {
  plugin: undefined,
  traceOf: () => undefined,
  startCycle: () => noCycle,
  startUpstreamCall: () => noCall,
  shutdown: async () => {},
}
