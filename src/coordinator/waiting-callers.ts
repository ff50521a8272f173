import type { TraceParent } from '../aifi/upstream-call.ts'
import type { PatchRecord } from './patch-record.ts'
import type { PatchResult, Settlement } from './settlement.ts'

/**
 * Where a waiting patch stands, as this process knows it: its push not yet answered, queued in the inbox, taken
 * into a batch (by any holder), or in a cycle this process runs.
 */
export type WaitState = 'pushing' | 'queued' | 'taken' | 'running'

export interface Waiter {
  record: PatchRecord
  state: WaitState
  /** The Authorization its AiFi calls carry; it never leaves this process. */
  authorization: string
  trace: TraceParent | undefined
  /** Set while a withdraw decides what became of the patch, so two are never under way at once. */
  resolving: boolean
  /** Its turn came while the session's holder waited for the quota: it waits for that batch, to its deadline. */
  turnHeld: boolean
  timers: NodeJS.Timeout[]
}

/**
 * The callers of this process whose patches wait for a settlement, shared by both inboxes: whoever learns a
 * patch's outcome (this process's cycle, a settlement message from another replica, a withdraw) answers it here,
 * by the patch's id, once.
 */
export function createWaitingCallers() {
  const waiters = new Map<string, Waiter & { resolve(result: PatchResult): void; reject(error: unknown): void }>()
  const bySession = new Map<string, Waiter[]>()
  const listeners = new Map<string, Set<() => void>>()

  function changed(sessionId: string): void {
    const waiting = listeners.get(sessionId)
    listeners.delete(sessionId)
    waiting?.forEach((listener) => listener())
  }

  return {
    add(record: PatchRecord, local: { authorization: string; trace: TraceParent | undefined }): { waiter: Waiter; answer: Promise<PatchResult> } {
      let waiter!: Waiter
      const answer = new Promise<PatchResult>((resolve, reject) => {
        const entry = { record, state: 'pushing' as WaitState, ...local, resolving: false, turnHeld: false, timers: [], resolve, reject }
        waiters.set(record.id, entry)
        const queue = bySession.get(record.sessionId)
        if (queue === undefined) bySession.set(record.sessionId, [entry])
        else queue.push(entry)
        waiter = entry
      })
      return { waiter, answer }
    },
    get: (id: string): Waiter | undefined => waiters.get(id),
    /** Answers the patch, unless it already has its answer. */
    answer(id: string, settlement: Settlement): boolean {
      const waiter = waiters.get(id)
      if (waiter === undefined) return false
      waiters.delete(id)
      waiter.timers.forEach(clearTimeout)
      const { sessionId } = waiter.record
      const queue = bySession.get(sessionId)!
      queue.splice(queue.indexOf(waiter), 1)
      if (queue.length === 0) bySession.delete(sessionId)
      if (settlement.ok) waiter.resolve(settlement.result)
      else waiter.reject(settlement.error)
      changed(sessionId)
      return true
    },
    setState(waiter: Waiter, state: WaitState): void {
      waiter.state = state
      changed(waiter.record.sessionId)
    },
    /** This process's waiting patches of the session, in arrival order: the live list, to read before any await. */
    ofSession: (sessionId: string): readonly Waiter[] => bySession.get(sessionId) ?? [],
    sessions: (): string[] => [...bySession.keys()],
    /** Sessions with a patch of the flow here still before its cycle's grant: each waits for a turn of the quota. */
    turnsAwaited(flow: string): number {
      let turns = 0
      for (const queue of bySession.values()) {
        if (queue.some((waiter) => waiter.record.flow === flow && (waiter.state === 'pushing' || waiter.state === 'queued'))) turns++
      }
      return turns
    },
    /** Resolves at the next change to this process's patches of the session: one added, answered, or moved on. */
    nextChange(sessionId: string): Promise<void> {
      return new Promise((resolve) => listeners.set(sessionId, (listeners.get(sessionId) ?? new Set()).add(resolve)))
    },
    /** Patches accepted and not yet answered. */
    count: () => waiters.size,
  }
}

export type WaitingCallers = ReturnType<typeof createWaitingCallers>
