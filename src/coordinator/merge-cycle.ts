import type { FastifyBaseLogger } from 'fastify'
import { backoffMs, type RetryPolicy } from '../aifi/retry.ts'
import type { UpstreamCallContext } from '../aifi/upstream-call.ts'
import type { Upstream } from '../aifi/upstream.ts'
import { createDeadline, type Clock, type Deadline } from '../deadline.ts'
import { ProxyError } from '../errors.ts'
import type { Metrics } from '../metrics.ts'
import { appliedPatches, decideAttempt, plannedPatches, settleAll, startCycle, type AttemptDecision, type CycleState, type WriteStep } from './attempt-decision.ts'
import { planBatch } from './batch-plan.ts'
import { summarizeCycle, type CycleTrace, type CycleTracer } from './cycle-trace.ts'
import type { TakenBatch } from './inbox.ts'
import type { PatchRecord, Settlements } from './patch-record.ts'
import { createVerifiedWrite } from './verified-write.ts'

export interface MergeCycleDeps {
  upstream: Upstream
  logger: FastifyBaseLogger
  metrics: Metrics
  /** Bounds re-runs after ambiguous writes the way it bounds read retries. */
  retryPolicy: RetryPolicy
  clock: Clock
  tracer: CycleTracer
  /** Service mode: every AiFi call carries the proxy's own token, whoever's patches the batch holds. */
  serviceAuthorization: string | undefined
}

/** A taken batch and what its drain holds for it: the lease (behind confirmWrite) and the quota (behind payAttempt). */
export interface CycleRun {
  sessionId: string
  batch: TakenBatch
  waits: { turnWaitMs: number; quotaWaitMs: number }
  /** The flow the cycle waited in, as metrics and spans name it. */
  flowLabel: string
  traceOf(id: string): UpstreamCallContext['trace']
  /** The Authorization a caller of this process sent (forward mode); it never leaves the process. */
  credentialsOf(record: PatchRecord): string | undefined
  /** Pays the quota for a further attempt's read and write; the first attempt's was paid before the batch was taken. */
  payAttempt(flow: string, deadlineAt: number): Promise<number>
  /** Right before a write: the lease is still held and renewed, and the ids the write carries are recorded. */
  confirmWrite(ids: readonly string[]): Promise<boolean>
}

export type MergeCycle = ReturnType<typeof createMergeCycle>

/**
 * The read-merge-write cycle for one taken batch of one session's patches (docs/consistency.md#the-merge-cycle),
 * under one held lease: read, plan, write, verify, and again after an ambiguous write or a batch AiFi refused.
 * What each outcome means is decided by decideAttempt; this loop only acts on it. Resolves with every patch's
 * settlement, or 'lease-lost' when a write could not be confirmed: nothing more was sent, and the batch stays
 * taken for the next holder.
 */
export function createMergeCycle(deps: MergeCycleDeps) {
  const { upstream, metrics, retryPolicy, clock, tracer } = deps
  const writeVerified = createVerifiedWrite(deps)

  async function attempt(state: CycleState, run: CycleRun, context: UpstreamCallContext): Promise<AttemptDecision> {
    const session = await upstream.readSession(run.sessionId, context)
    if (session === undefined) return { settled: settleAll(state.pending, new ProxyError('E_SESSION_NOT_FOUND')), next: { kind: 'done' } }
    const plan = planBatch(session, plannedPatches(state))
    let step: WriteStep = { kind: 'nothing-to-write' }
    if (plan.write !== undefined) {
      const writing = appliedPatches(state, plan)
      step = (await run.confirmWrite(writing.map((patch) => patch.id))) ? await writeVerified(plan, writing, context) : { kind: 'lease-lost' }
    }
    return decideAttempt(state, session, plan, step, retryPolicy.retries)
  }

  /** The first caller's request id and trace go upstream, bounded by the earliest deadline of the patches. */
  function callContext(state: CycleState, run: CycleRun, deadline: Deadline, trace: CycleTrace): UpstreamCallContext {
    const head = state.pending[0]!
    const authorization = deps.serviceAuthorization ?? run.credentialsOf(head)
    if (authorization === undefined) throw new ProxyError('E_INTERNAL', { message: 'no credentials for a forwarded patch' })
    return { requestId: head.requestId, authorization, deadline, trace: trace.parent, flow: head.flow }
  }

  async function run(run: CycleRun): Promise<Settlements | 'lease-lost'> {
    const { patches } = run.batch
    const settlements: Settlements = new Map()
    const trace = tracer.startCycle()
    trace.waited('turn', run.waits.turnWaitMs)
    trace.waited('quota', run.waits.quotaWaitMs)
    trace.chargedTo(run.flowLabel)
    trace.serve(patches.map((patch) => ({ sessionId: patch.sessionId, requestId: patch.requestId, trace: run.traceOf(patch.id) })))
    metrics.batchSize.observe(patches.length)
    for (const patch of patches) metrics.lockWait.observe((clock.now() - patch.receivedAt) / 1000)

    const queue: CycleState[] = [startCycle(patches, run.batch.mayHaveLanded)]
    let paid = true
    try {
      for (let state = queue.shift(); state !== undefined; state = queue.shift()) {
        while (state.pending.length > 0) {
          const deadline = createDeadline(Math.min(...state.pending.map((patch) => patch.deadlineAt)) - clock.now(), clock.now)
          let decision: AttemptDecision
          try {
            if (!paid) trace.waited('quota', await run.payAttempt(state.pending[0]!.flow, deadline.expiresAt))
            paid = false
            decision = await attempt(state, run, callContext(state, run, deadline, trace))
          } catch (error) {
            decision = { settled: settleAll(state.pending, error), next: { kind: 'done' } }
          }
          for (const [patch, settlement] of decision.settled) settlements.set(patch.id, settlement)
          const { next } = decision
          if (next.kind === 'again') return 'lease-lost'
          if (next.kind === 'done') break
          if (next.kind === 'one-by-one') {
            queue.unshift(...next.states)
            break
          }
          const waitMs = backoffMs(retryPolicy, next.state.ambiguousWrites - 1, next.failure.retryAfterSeconds)
          if (waitMs >= deadline.remainingMs()) {
            for (const [patch, settlement] of settleAll(next.state.pending, next.failure.error)) settlements.set(patch.id, settlement)
            break
          }
          await clock.delay(waitMs)
          state = next.state
        }
      }
    } finally {
      trace.end(summarizeCycle(patches.map((patch) => patch.id), settlements))
    }
    return settlements
  }

  return { run }
}
