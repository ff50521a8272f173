import type { TraceParent } from '../aifi/upstream-call.ts'
import { ProxyError } from '../errors.ts'
import type { Settlements } from './patch-record.ts'

/** A patch a cycle serves, as its span sees it: ids and its request's span, never a value. */
export interface ServedPatch {
  sessionId: string
  requestId: string
  trace: TraceParent | undefined
}

/** How a cycle ended: `applied` or `noop` when every patch succeeded, `failed` when none did, `partial` otherwise. */
export interface CycleSummary {
  outcome: 'applied' | 'noop' | 'failed' | 'partial'
  /** The error types the failed patches were answered with, sorted. */
  errorTypes: string[]
}

/** One write cycle's span (docs/operations.md#traces), as the cycle uses it; tracing implements it. */
export interface CycleTrace {
  /** The first patch's request span is the parent (its request id goes upstream); every other one is linked. */
  serve(patches: readonly ServedPatch[]): void
  /** Adds to the cycle's wait for its session's turn and lock, or for the outbound quota. */
  waited(kind: 'turn' | 'quota', ms: number): void
  /** The flow whose share of the quota the cycle waited in: a caller name, or `forwarded`. */
  chargedTo(flowLabel: string): void
  /** The parent of the cycle's upstream calls; undefined before `serve` and while tracing is off. */
  readonly parent: TraceParent | undefined
  end(summary: CycleSummary): void
}

export interface CycleTracer {
  startCycle(): CycleTrace
}

const noCycle: CycleTrace = { serve: () => {}, waited: () => {}, chargedTo: () => {}, parent: undefined, end: () => {} }
export const noCycleTracer: CycleTracer = { startCycle: () => noCycle }

/** What the served patches ended with; one not settled counts as failed. */
export function summarizeCycle(served: readonly string[], settlements: Settlements): CycleSummary {
  let applied = 0
  let succeeded = 0
  const errorTypes = new Set<string>()
  for (const id of served) {
    const settlement = settlements.get(id)
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
