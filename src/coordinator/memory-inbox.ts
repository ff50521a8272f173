import type { Inbox, TakenBatch, WithdrawOutcome } from './inbox.ts'
import type { PatchRecord } from './patch-record.ts'

interface SessionInbox {
  queued: PatchRecord[]
  /** The batch taken and not yet settled: a holder that lost its lease leaves it to the next one. */
  taken: PatchRecord[]
  writing: Set<string>
}

/**
 * The inbox of one process (docs/consistency.md#serialization). Only patches of one scope share a batch: in
 * forward mode each caller's own token authorizes its write. A session's entry exists only while it holds
 * patches, so memory does not grow with the number of sessions ever seen.
 */
export function createMemoryInbox(): Inbox {
  const sessions = new Map<string, SessionInbox>()
  /** Sessions whose holder waits for the quota. */
  const turnsHeld = new Set<string>()
  const of = (sessionId: string) => {
    let inbox = sessions.get(sessionId)
    if (inbox === undefined) sessions.set(sessionId, (inbox = { queued: [], taken: [], writing: new Set() }))
    return inbox
  }
  const forgetIfEmpty = (sessionId: string, inbox: SessionInbox) => {
    if (inbox.queued.length === 0 && inbox.taken.length === 0) sessions.delete(sessionId)
  }

  return {
    async push(record) {
      of(record.sessionId).queued.push(record)
    },
    async take(sessionId, _lease, maxBatch) {
      turnsHeld.delete(sessionId)
      const inbox = of(sessionId)
      if (inbox.taken.length === 0) {
        const scope = inbox.queued[0]?.scope
        let size = 0
        while (size < inbox.queued.length && size < maxBatch && inbox.queued[size]!.scope === scope) size++
        inbox.taken = inbox.queued.splice(0, size)
        inbox.writing.clear()
      }
      const batch: TakenBatch = { patches: [...inbox.taken], mayHaveLanded: new Set(inbox.writing) }
      forgetIfEmpty(sessionId, inbox)
      return batch
    },
    async markWriting(sessionId, _lease, ids) {
      for (const id of ids) of(sessionId).writing.add(id)
      return true
    },
    async settle(sessionId) {
      const inbox = of(sessionId)
      inbox.taken = []
      inbox.writing.clear()
      forgetIfEmpty(sessionId, inbox)
      return true
    },
    async holdTurn(sessionId) {
      turnsHeld.add(sessionId)
    },
    async handBackTurn(sessionId) {
      turnsHeld.delete(sessionId)
    },
    async withdraw(record, forTurn = false): Promise<WithdrawOutcome> {
      const inbox = sessions.get(record.sessionId)
      if (inbox === undefined) return { kind: 'gone' }
      const index = inbox.queued.indexOf(record)
      if (index !== -1 && forTurn && turnsHeld.has(record.sessionId)) return { kind: 'held' }
      if (index !== -1) {
        inbox.queued.splice(index, 1)
        forgetIfEmpty(record.sessionId, inbox)
        return { kind: 'withdrawn' }
      }
      return inbox.taken.includes(record) ? { kind: 'taken' } : { kind: 'gone' }
    },
    hasQueued: async (sessionId) => (sessions.get(sessionId)?.queued.length ?? 0) > 0,
    // Settlements reach this process's callers directly: none is ever missed.
    keptSettlements: async () => new Map(),
  }
}
