import type { Clock } from '../deadline.ts'
import { coordinationUnavailable, ProxyError } from '../errors.ts'
import type { Inbox, WithdrawOutcome } from './inbox.ts'
import type { Waiter, WaitingCallers } from './waiting-callers.ts'

// How long a caller's answer may take to find out what became of its patch once Redis fails: with the first
// call's own bound (1 s), every waiting caller has its answer within 2 s of the fault.
const RESOLVE_BUDGET_MS = 1_000
const RESOLVE_RETRY_MS = 100

/**
 * The answers a waiting patch gets from anything but its own batch's settlement (docs/consistency.md#what-an-answer-means):
 * its turn or deadline ran out, the quota refused it, or Redis failed. An answer that says "not applied" is
 * given only once the patch is out of the inbox for good (withdrawn, or never pushed), so no holder can take it
 * afterwards. When that cannot be learned, the answer says so: E_COORDINATION_LOST.
 */
export function createPatchAnswers(deps: {
  inbox: Pick<Inbox, 'withdraw' | 'keptSettlements'>
  waiting: WaitingCallers
  clock: Clock
}) {
  const { inbox, waiting, clock } = deps

  async function withdrawWithin(waiter: Waiter, forTurn: boolean): Promise<WithdrawOutcome | undefined> {
    const giveUpAt = clock.now() + RESOLVE_BUDGET_MS
    for (;;) {
      try {
        return await inbox.withdraw(waiter.record, forTurn)
      } catch {
        if (clock.now() + RESOLVE_RETRY_MS >= giveUpAt) return undefined
        await clock.delay(RESOLVE_RETRY_MS)
      }
    }
  }

  /**
   * Withdraws the patch and answers it: `ifWithdrawn` when it left the inbox untaken, its settlement when it has
   * one, `ifTaken` (or nothing yet: 'wait') while a batch holds it, and E_COORDINATION_LOST when Redis cannot say.
   * For its turn (`forTurn`), a patch queued while the session's holder waits for the quota stays, and waits for
   * that batch: a wait for the quota is never answered E_LOCK_TIMEOUT (docs/consistency.md#sharing-the-quota).
   */
  async function withdrawOrWait(waiter: Waiter, ifWithdrawn: ProxyError, ifTaken: ProxyError | 'wait', forTurn = false): Promise<void> {
    if (waiter.resolving || waiter.state === 'running') return
    waiter.resolving = true
    const outcome = await withdrawWithin(waiter, forTurn)
    waiter.resolving = false
    const { id } = waiter.record
    if (waiting.get(id) !== waiter) return
    switch (outcome?.kind) {
      case 'withdrawn':
        return void waiting.answer(id, { ok: false, error: ifWithdrawn })
      case 'settled':
        return void waiting.answer(id, outcome.settlement)
      case 'taken':
        if (ifTaken !== 'wait') return void waiting.answer(id, { ok: false, error: ifTaken })
        if (waiter.state !== 'taken') queued(waiter, 'taken')
        return
      case 'held':
        waiter.turnHeld = true
        return
      default:
        // The inbox lost it (Redis restarted) or never answered: a holder may have taken it before.
        return void waiting.answer(id, { ok: false, error: new ProxyError('E_COORDINATION_LOST') })
    }
  }

  /** The push was answered (or a withdraw found the patch taken): from now on its turn and deadline are timed. */
  function queued(waiter: Waiter, state: 'queued' | 'taken' = 'queued'): void {
    if (waiting.get(waiter.record.id) !== waiter) return
    const armed = waiter.timers.length > 0
    waiting.setState(waiter, state)
    if (armed) return
    const { turnAt, deadlineAt } = waiter.record
    waiter.timers.push(
      setTimeout(() => {
        if (waiter.state === 'queued') void withdrawOrWait(waiter, new ProxyError('E_LOCK_TIMEOUT'), 'wait', true)
      }, turnAt - clock.now()),
      setTimeout(() => void deadlinePassed(waiter), deadlineAt - clock.now()),
    )
  }

  /** A patch a batch holds may have been applied: past its deadline it is answered 504, not "not applied". */
  function deadlinePassed(waiter: Waiter): void {
    // A withdraw for its turn may be under way (the two can end together): this one follows it.
    if (waiter.resolving) return void waiter.timers.push(setTimeout(() => deadlinePassed(waiter), RESOLVE_RETRY_MS))
    // One whose turn was held for the quota waited for the quota, to the end.
    const untaken = waiter.turnHeld ? new ProxyError('E_QUOTA_EXHAUSTED', { retryAfterSeconds: 1 }) : new ProxyError('E_LOCK_TIMEOUT')
    void withdrawOrWait(waiter, untaken, new ProxyError('E_UPSTREAM_TIMEOUT'))
  }

  return {
    queued,
    withdrawOrWait,
    /** Redis failed: each of the session's waiting patches that no cycle of this process runs learns where it stands. */
    async afterFault(sessionId: string): Promise<void> {
      const unavailable = coordinationUnavailable('the patch was withdrawn unapplied')
      const waiters = waiting.ofSession(sessionId).filter((waiter) => waiter.state === 'queued' || waiter.state === 'taken')
      await Promise.all(waiters.map((waiter) => withdrawOrWait(waiter, unavailable, 'wait')))
    },
    /** Answers this process's patches of the session whose settlements were kept; false when there were none. */
    async fromKept(sessionId: string): Promise<boolean> {
      const pushed = waiting.ofSession(sessionId).filter((waiter) => waiter.state !== 'pushing')
      if (pushed.length === 0) return false
      const kept = await inbox.keptSettlements(pushed.map((waiter) => waiter.record))
      for (const [id, settlement] of kept) waiting.answer(id, settlement)
      return kept.size > 0
    },
  }
}
