import type { ClassifiedFailure } from '../aifi/failure-table.ts'
import { ProxyError } from '../errors.ts'
import { computeEtag } from '../merge/index.ts'
import type { Session } from '../schemas.ts'
import type { BatchPlan, PlannedPatch } from './batch-plan.ts'
import type { PatchRecord } from './patch-record.ts'
import type { Settlement } from './settlement.ts'

/** One session's patches still to settle, and what earlier attempts of their cycle left behind. */
export interface CycleState {
  /** In arrival order. */
  pending: PatchRecord[]
  /**
   * Patches held by a write that may have landed: their If-Match is not judged again (a re-run must not turn
   * the caller's own landed write into a 412), and a re-run that finds nothing to change still answers `applied`.
   */
  mayHaveLanded: ReadonlySet<string>
  /** Ambiguous write failures so far: re-runs are bounded like read retries. */
  ambiguousWrites: number
}

/** What happened after the plan: nothing needed writing, or the write's outcome. */
export type WriteStep =
  | { kind: 'nothing-to-write' }
  /** The lease could not be confirmed right before the write: nothing was sent. */
  | { kind: 'lease-lost' }
  | { kind: 'written'; session: Session }
  /** AiFi answered 2xx with something that does not hold what was written. */
  | { kind: 'unverified'; error: ProxyError }
  | { kind: 'failed'; failure: ClassifiedFailure }

export type NextAttempt =
  | { kind: 'done' }
  /** Run again at once, under a new lease. */
  | { kind: 'again'; state: CycleState }
  /** Run again after a backoff: the write failed ambiguously, so the next cycle reads afresh and merges again. */
  | { kind: 'after-backoff'; state: CycleState; failure: ClassifiedFailure }
  /** AiFi refused a batch: each patch runs again on its own, so only the offending caller fails. */
  | { kind: 'one-by-one'; states: CycleState[] }

export interface AttemptDecision {
  settled: Array<[PatchRecord, Settlement]>
  next: NextAttempt
}

export function startCycle(patches: PatchRecord[], mayHaveLanded: ReadonlySet<string> = new Set()): CycleState {
  return { pending: patches, mayHaveLanded, ambiguousWrites: 0 }
}

export function plannedPatches(state: CycleState): PlannedPatch[] {
  return state.pending.map((patch) => ({ body: patch.body, ifMatch: patch.ifMatch ?? undefined, checkIfMatch: !state.mayHaveLanded.has(patch.id) }))
}

/** The patches the plan applies, in arrival order: the callers a write speaks for. */
export function appliedPatches(state: CycleState, plan: BatchPlan): PatchRecord[] {
  return state.pending.filter((_, index) => plan.verdicts[index]!.kind === 'apply')
}

export function settleAll(patches: PatchRecord[], error: unknown): Array<[PatchRecord, Settlement]> {
  return patches.map((patch) => [patch, { ok: false, error }])
}

/**
 * Settles what one read-merge-write attempt decided and says what happens to the rest. Pure: the cycle's I/O
 * loop only acts on the answer. `maxReruns` bounds re-runs after ambiguous writes (UPSTREAM_RETRIES).
 */
export function decideAttempt(state: CycleState, read: Session, plan: BatchPlan, step: WriteStep, maxReruns: number): AttemptDecision {
  const settled: Array<[PatchRecord, Settlement]> = []
  const applied: PatchRecord[] = []
  // A 412 judged against earlier patches of this batch holds only if those patches land.
  const preconditionFailed: PatchRecord[] = []
  state.pending.forEach((patch, index) => {
    const verdict = plan.verdicts[index]!
    if (verdict.kind === 'apply') applied.push(patch)
    else if (verdict.error.type === 'E_PRECONDITION_FAILED') preconditionFailed.push(patch)
    else settled.push([patch, { ok: false, error: verdict.error }])
  })
  const undecided = state.pending.filter((patch) => applied.includes(patch) || preconditionFailed.includes(patch))
  const settlePreconditionFailed = () => {
    for (const patch of preconditionFailed) settled.push([patch, { ok: false, error: new ProxyError('E_PRECONDITION_FAILED') }])
  }
  const done = (settle: (patch: PatchRecord) => Settlement): AttemptDecision => {
    for (const patch of applied) settled.push([patch, settle(patch)])
    settlePreconditionFailed()
    return { settled, next: { kind: 'done' } }
  }

  switch (step.kind) {
    case 'nothing-to-write': {
      const etag = computeEtag(read.metadata)
      // After an ambiguous write that did land, the re-run finds nothing to change: still `applied`.
      return done((patch) => ({ ok: true, result: { session: read, etag, mergeResult: state.mayHaveLanded.has(patch.id) ? 'applied' : 'noop' } }))
    }
    case 'lease-lost':
      return { settled, next: { kind: 'again', state: { ...state, pending: undecided } } }
    case 'written': {
      const result = { session: step.session, etag: computeEtag(step.session.metadata), mergeResult: 'applied' as const }
      return done(() => ({ ok: true, result }))
    }
    case 'unverified':
      return done(() => ({ ok: false, error: step.error }))
    case 'failed': {
      const { failure } = step
      if (failure.write === 'split' && undecided.length > 1) {
        // Nothing landed: every patch, the 412s included, is judged again on its own.
        const states = undecided.map((patch) => ({ pending: [patch], mayHaveLanded: state.mayHaveLanded, ambiguousWrites: 0 }))
        return { settled, next: { kind: 'one-by-one', states } }
      }
      if (failure.write === 'rerun' && state.ambiguousWrites < maxReruns) {
        settlePreconditionFailed()
        const mayHaveLanded = new Set([...state.mayHaveLanded, ...applied.map((patch) => patch.id)])
        const rerun = { pending: applied, mayHaveLanded, ambiguousWrites: state.ambiguousWrites + 1 }
        return { settled, next: { kind: 'after-backoff', state: rerun, failure } }
      }
      return done(() => ({ ok: false, error: failure.error }))
    }
  }
}
