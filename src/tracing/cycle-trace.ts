import { ROOT_CONTEXT, SpanStatusCode, trace, type Link, type Span, type Tracer } from '@opentelemetry/api'
import type { CycleTrace, ServedPatch } from '../coordinator/cycle-trace.ts'

/** The proxy's own span attributes (docs/operations.md#traces): ids, counts, waits and outcomes, never a value. */
export const ATTR = {
  requestId: 'aifi_proxy.request_id',
  sessionId: 'aifi_proxy.session_id',
  batchSize: 'aifi_proxy.batch_size',
  turnWaitMs: 'aifi_proxy.turn_wait_ms',
  quotaWaitMs: 'aifi_proxy.quota_wait_ms',
  flow: 'aifi_proxy.flow',
  outcome: 'aifi_proxy.outcome',
  errorTypes: 'aifi_proxy.error_types',
  upstreamOp: 'aifi_proxy.upstream_op',
} as const

/**
 * The span is started when the cycle's batch is served, not when the cycle starts: its parent is the first
 * patch's request span, which is not known before. It is dated from the cycle's start all the same.
 */
export function createCycleTrace(tracer: Tracer): CycleTrace {
  const startTime = performance.timeOrigin + performance.now()
  let served = 0
  const waitsMs = { turn: 0, quota: 0 }
  let flow: string | undefined
  let span: Span | undefined

  return {
    serve(patches) {
      const [first, ...others] = patches
      if (span !== undefined || first === undefined) return
      const parent = first.trace === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, first.trace)
      const attributes = { [ATTR.sessionId]: first.sessionId, [ATTR.requestId]: first.requestId }
      span = tracer.startSpan('merge cycle', { startTime, attributes, links: linksTo(others) }, parent)
      served = patches.length
    },
    waited(kind, ms) {
      waitsMs[kind] += Math.max(0, ms)
    },
    chargedTo(flowLabel) {
      flow = flowLabel
    },
    get parent() {
      return span?.spanContext()
    },
    end({ outcome, errorTypes }) {
      if (span === undefined) return
      span.setAttributes({
        [ATTR.batchSize]: served,
        [ATTR.turnWaitMs]: waitsMs.turn,
        [ATTR.quotaWaitMs]: waitsMs.quota,
        [ATTR.outcome]: outcome,
        ...(flow === undefined ? {} : { [ATTR.flow]: flow }),
      })
      if (errorTypes.length > 0) {
        span.setAttribute(ATTR.errorTypes, errorTypes)
        span.setStatus({ code: SpanStatusCode.ERROR })
      }
      span.end()
    },
  }
}

function linksTo(patches: readonly ServedPatch[]): Link[] {
  return patches.flatMap((patch) => (patch.trace === undefined ? [] : [{ context: patch.trace, attributes: { [ATTR.requestId]: patch.requestId } }]))
}
