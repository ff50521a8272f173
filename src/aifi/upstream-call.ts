import type { SpanContext } from '@opentelemetry/api'
import type { Deadline } from '../deadline.ts'
import type { UpstreamOp } from './upstream-errors.ts'

/** The span that an AiFi call is a child of: its request's span, or its cycle's (docs/operations.md#traces). */
export type TraceParent = SpanContext

/** What one AiFi call needs, built where the call is made: who it is for, with which credentials, until when. */
export interface UpstreamCallContext {
  /** Sent upstream as X-Request-Id: the first caller's, for a batch. */
  requestId: string
  /** The Authorization header AiFi gets: the proxy's token (service mode) or the caller's own (forward mode). */
  authorization: string
  deadline: Deadline
  trace: TraceParent | undefined
  /** Whose share of AiFi's quota a retry of this call waits in (src/quota/flows.ts). */
  flow: string
}

/** One attempt sent to AiFi, as a tracer records it. */
export interface UpstreamCallTrace {
  /** `traceparent` (and `tracestate`) for the attempt; none while tracing is off. */
  readonly headers: Readonly<Record<string, string>>
  /** `outcome` as the upstream metrics count it: the HTTP status, or `timeout` / `error`. */
  end(outcome: string): void
}

/** What the AiFi client asks of tracing: a span per attempt. */
export interface UpstreamTracer {
  startUpstreamCall(op: UpstreamOp, method: string, url: string, parent: TraceParent | undefined): UpstreamCallTrace
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({})
const noCall: UpstreamCallTrace = { headers: NO_HEADERS, end: () => {} }
export const noUpstreamTracer: UpstreamTracer = { startUpstreamCall: () => noCall }
