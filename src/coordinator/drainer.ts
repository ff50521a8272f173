import type { FastifyBaseLogger } from 'fastify'
import type { TraceParent } from '../aifi/upstream-call.ts'
import type { Clock } from '../deadline.ts'
import { coordinationUnavailable, ProxyError } from '../errors.ts'
import type { FairQuota } from '../quota/quota.ts'
import { InboxUncertainError, type Inbox, type TakenBatch } from './inbox.ts'
import type { MergeCycle } from './merge-cycle.ts'
import type { PatchRecord } from './patch-record.ts'
import { createPatchAnswers } from './patch-answers.ts'
import type { LockLease, SessionLock } from './session-lock.ts'
import type { PatchResult } from './settlement.ts'
import type { Waiter, WaitingCallers } from './waiting-callers.ts'

// After a Redis fault, a session's drain looks again this much later rather than at once, in a loop.
const FAULT_BACKOFF_MS = 200

export interface DrainerDeps<Lease extends LockLease> {
  inbox: Inbox<Lease>
  lock: SessionLock<Lease>
  quota: Pick<FairQuota, 'reserve' | 'refuseAtOnce' | 'charge'>
  cycle: MergeCycle
  waiting: WaitingCallers
  clock: Clock
  logger: FastifyBaseLogger
  maxBatch: number
  /** A flow as metrics and spans name it (src/quota/flows.ts). */
  flowLabel(flow: string): string
}

export type Drainer = ReturnType<typeof createDrainer>

/**
 * Owns every session's drain (docs/consistency.md#the-merge-cycle), the same in one process and across replicas:
 * a patch is pushed into its session's inbox, and while this process has a patch waiting there it competes for
 * the session's turn: lock → quota → take (late binding: every patch queued by then joins the batch) → cycle →
 * settle. Whichever process holds the lock serves the whole inbox, other replicas' patches included.
 */
export function createDrainer<Lease extends LockLease>(deps: DrainerDeps<Lease>) {
  const { inbox, lock, quota, cycle, waiting, clock, logger, maxBatch, flowLabel } = deps
  const driving = new Set<string>()
  const answers = createPatchAnswers({ inbox, waiting, clock })

  async function drive(sessionId: string): Promise<void> {
    if (driving.has(sessionId)) return
    driving.add(sessionId)
    try {
      for (let head = headOf(sessionId); head !== undefined; head = headOf(sessionId)) {
        const change = waiting.nextChange(sessionId)
        try {
          await serveOnce(sessionId, head, change)
        } catch (error) {
          // Redis failed mid-step: each waiting patch learns what became of it, then the drain looks again.
          logger.warn({ err: error, sessionId }, 'a session could not be served: coordination failed')
          await Promise.all([answers.afterFault(sessionId), clock.delay(FAULT_BACKOFF_MS)])
        }
      }
    } finally {
      driving.delete(sessionId)
    }
  }

  /** The oldest patch of this process's still waiting for some holder to serve it. */
  const headOf = (sessionId: string) => waiting.ofSession(sessionId).find((waiter) => waiter.state === 'queued' || waiter.state === 'taken')

  async function serveOnce(sessionId: string, head: Waiter, change: Promise<void>): Promise<void> {
    const { record } = head
    const waitsForBatch = head.state === 'taken' || head.turnHeld
    const waitUntil = waitsForBatch ? record.deadlineAt : Math.min(record.turnAt, record.deadlineAt)
    const lease = await lock.acquire(sessionId, Math.max(0, waitUntil - clock.now()))
    if (lease === undefined) {
      // The head's turn ran out: it leaves the inbox unapplied, unless a holder took it or holds the turn for the
      // quota. Past its deadline, its timer answers.
      if (!waitsForBatch) return answers.withdrawOrWait(head, new ProxyError('E_LOCK_TIMEOUT'), 'wait', true)
      return change
    }
    let idle: boolean
    try {
      idle = await serveUnderLease(sessionId, head, lease)
    } finally {
      await lease.release()
    }
    // Nothing to do until this process's patches change: waited for with the lock handed back.
    if (idle) await change
  }

  /** Quota, take, cycle, settle under a held lease; true when there was nothing to run. */
  async function serveUnderLease(sessionId: string, head: Waiter, lease: Lease): Promise<boolean> {
    // The holder before this one carried the head in its batch, and its settlement came while this process waited
    // for the turn: a slot of the quota asked for now would go to a batch with nothing of this process's in it.
    if (waiting.get(head.record.id) !== head) return false
    const { record } = head
    const turnWaitMs = clock.now() - record.receivedAt
    let quotaWaitMs: number
    // Patches queued behind this wait wait for its batch, not for a turn; the take ends the held turn. Neither
    // call is waited for: each goes to Redis ahead of the calls after it, and one that fails leaves only the turns
    // of the patches behind as they were.
    void inbox.holdTurn(sessionId, lease, record.deadlineAt).catch(() => {})
    try {
      quotaWaitMs = await quota.reserve({ flow: record.flow, tokens: 2, deadlineAt: record.deadlineAt })
    } catch (error) {
      void inbox.handBackTurn(sessionId).catch(() => {})
      if (isCoordinationFault(error)) throw error
      // No slot before the head's deadline: it leaves the inbox with that answer, unless a holder took it.
      if (head.state === 'taken') return true
      await answers.withdrawOrWait(head, error as ProxyError, 'wait')
      return false
    }
    const batch = await inbox.take(sessionId, lease, maxBatch)
    if (batch === undefined) return false
    // None: this process's patches were settled by another holder (and the message missed), or are run elsewhere.
    if (batch.patches.length === 0) return !(await answers.fromKept(sessionId))
    quota.charge(record.flow, 2, countByFlow(batch.patches))
    await runBatch(sessionId, batch, lease, { turnWaitMs, quotaWaitMs })
    return false
  }

  async function runBatch(sessionId: string, batch: TakenBatch, lease: Lease, waits: { turnWaitMs: number; quotaWaitMs: number }) {
    const local = batch.patches.flatMap((record) => waiting.get(record.id) ?? [])
    local.forEach((waiter) => waiting.setState(waiter, 'running'))
    const outcome = await cycle.run({
      sessionId,
      batch,
      waits,
      flowLabel: flowLabel(batch.patches[0]!.flow),
      traceOf: (id: string): TraceParent | undefined => waiting.get(id)?.trace,
      credentialsOf: (record: PatchRecord) => waiting.get(record.id)?.authorization,
      payAttempt: (flow: string, deadlineAt: number) => quota.reserve({ flow, tokens: 2, deadlineAt }),
      // A record Redis did not confirm counts as a lost lease: nothing is sent, and the batch stays taken.
      confirmWrite: async (ids: readonly string[]) => (await lease.confirm()) && (await inbox.markWriting(sessionId, lease, ids).catch(() => false)),
    })
    if (outcome === 'lease-lost') {
      // The batch stays taken: the next holder, maybe this process again, runs it first.
      local.forEach((waiter) => waiting.setState(waiter, 'taken'))
      return
    }
    const kept = await inbox.settle(sessionId, lease, batch, outcome).catch((error: unknown) => {
      logger.warn({ err: error, sessionId }, 'a batch could not be settled: the next holder runs it again')
      return false
    })
    for (const [id, settlement] of outcome) {
      // Unsettled, the batch may run again under another holder: only a success is still the whole truth.
      waiting.answer(id, kept || settlement.ok ? settlement : { ok: false, error: new ProxyError('E_COORDINATION_LOST') })
    }
  }

  return {
    /** Queues the patch and resolves with its result, or rejects with its own error. */
    async submit(record: PatchRecord, local: { authorization: string; trace: TraceParent | undefined }): Promise<PatchResult> {
      // A patch that would need a cycle of its own, whose flow's turn cannot come before its deadline, is refused
      // before it queues: nothing is pushed, locked or waited for. One that can join a queued batch is not: that
      // batch's turn may come in time (docs/consistency.md#sharing-the-quota).
      if (waiting.ofSession(record.sessionId).length === 0) {
        const request = { flow: record.flow, tokens: 2, deadlineAt: record.deadlineAt }
        const needsTurnOfItsOwn = async () => !(await inbox.hasQueued(record.sessionId))
        const refusal = await quota.refuseAtOnce(request, { turnsAhead: waiting.turnsAwaited(record.flow), needsTurnOfItsOwn })
        if (refusal !== undefined) throw refusal
      }
      const { waiter, answer } = waiting.add(record, local)
      inbox.push(record).then(
        () => {
          answers.queued(waiter)
          void drive(record.sessionId)
        },
        async (error: unknown) => {
          if (!(error instanceof InboxUncertainError)) return void waiting.answer(record.id, { ok: false, error })
          // The push may still run in Redis: only a withdraw can tell whether the patch is in the inbox.
          await answers.withdrawOrWait(waiter, coordinationUnavailable('the patch was not queued'), 'wait')
          if (waiting.get(record.id) !== undefined) void drive(record.sessionId)
        },
      )
      return answer
    },
    /** Redis failed (a dropped connection, a call that timed out): every waiting patch learns what became of it. */
    async onCoordinationFault(): Promise<void> {
      await Promise.all(waiting.sessions().map((sessionId) => answers.afterFault(sessionId)))
    },
    /** Patches accepted and not yet answered: what a graceful shutdown drains. */
    inFlight: () => waiting.count(),
    /** Sessions with patches waiting in this process. */
    activeSessions: () => waiting.sessions().length,
  }
}

/** A cycle is charged to the flows of its patches in proportion (docs/consistency.md#sharing-the-quota). */
function countByFlow(patches: readonly PatchRecord[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const patch of patches) counts.set(patch.flow, (counts.get(patch.flow) ?? 0) + 1)
  return counts
}

function isCoordinationFault(error: unknown): boolean {
  return !(error instanceof ProxyError) || error.type === 'E_COORDINATION_UNAVAILABLE'
}
