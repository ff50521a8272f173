import { ROOT_CONTEXT, SpanStatusCode, trace, type Link, type Span, type Tracer } from '@opentelemetry/api'
import type { Settlement } from '../coordinator/settlement.ts'
import { ProxyError } from '../errors.ts'
import type { PatchContext } from '../request-context.ts'
import type { CycleTrace } from './tracing.ts'

/** The proxy's own span attributes (docs/operations.md#traces): ids, counts, waits and outcomes, never a value. */
export const ATTR = {
  requestId: 'aifi_proxy.request_id',
  sessionId: 'aifi_proxy.session_id',
  batchSize: 'aifi_proxy.batch_size',
  turnWaitMs: 'aifi_proxy.turn_wait_ms',
  quotaWaitMs: 'aifi_proxy.quota_wait_ms',
  outcome: 'aifi_proxy.outcome',
  errorTypes: 'aifi_proxy.error_types',
  upstreamOp: 'aifi_proxy.upstream_op',
} as const

/**
 * The span is started when the first patches are served, not when the cycle starts: its parent is the first
 * patch's request span, which is not known before. It is dated from the cycle's start all the same.
 */
export function createCycleTrace(tracer: Tracer): CycleTrace {
  const startTime = performance.timeOrigin + performance.now()
  const served: PatchContext[] = []
  const waitsMs = { turn: 0, quota: 0 }
  let span: Span | undefined

  return {
    serve(patches) {
      const fresh = patches.filter((patch) => !served.includes(patch))
      if (fresh.length === 0) return
      const links = linksTo(span === undefined ? fresh.slice(1) : fresh)
      if (span === undefined) {
        const first = fresh[0]!
        const parent = first.trace === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, first.trace)
        const attributes = { [ATTR.sessionId]: first.sessionId, [ATTR.requestId]: first.requestId }
        span = tracer.startSpan('merge cycle', { startTime, attributes, links }, parent)
      } else {
        span.addLinks(links)
      }
      served.push(...fresh)
    },
    waited(kind, ms) {
      waitsMs[kind] += Math.max(0, ms)
    },
    get parent() {
      return span?.spanContext()
    },
    end(settlements) {
      if (span === undefined) return
      const { outcome, errorTypes } = summarize(served, settlements)
      span.setAttributes({
        [ATTR.batchSize]: served.length,
        [ATTR.turnWaitMs]: waitsMs.turn,
        [ATTR.quotaWaitMs]: waitsMs.quota,
        [ATTR.outcome]: outcome,
      })
      if (errorTypes.length > 0) {
        span.setAttribute(ATTR.errorTypes, errorTypes)
        span.setStatus({ code: SpanStatusCode.ERROR })
      }
      span.end()
    },
  }
}

function linksTo(patches: PatchContext[]): Link[] {
  return patches.flatMap((patch) => (patch.trace === undefined ? [] : [{ context: patch.trace, attributes: { [ATTR.requestId]: patch.requestId } }]))
}

/**
 * `applied` or `noop` when every patch succeeded (`applied` if any was written), `failed` when none did,
 * `partial` otherwise; with the error types the failed ones were answered with.
 */
export function summarize(served: readonly PatchContext[], settlements: ReadonlyMap<PatchContext, Settlement>) {
  let applied = 0
  let succeeded = 0
  const errorTypes = new Set<string>()
  for (const patch of served) {
    const settlement = settlements.get(patch)
    if (settlement?.ok === true) {
      succeeded++
      if (settlement.result.mergeResult === 'applied') applied++
    } else {
      errorTypes.add(settlement?.error instanceof ProxyError ? settlement.error.type : 'E_INTERNAL')
    }
  }
  const outcome = succeeded === served.length ? (applied > 0 ? 'applied' : 'noop') : succeeded === 0 ? 'failed' : 'partial'
  return { outcome, errorTypes: [...errorTypes].sort() }
}
