import { ProxyError } from '../errors.ts'
import type { PatchContext } from '../request-context.ts'
import type { BatchSource, RunBatch } from './merge-cycle.ts'
import type { PatchResult } from './settlement.ts'

interface QueueEntry {
  patch: PatchContext
  resolve: (result: PatchResult) => void
  reject: (error: unknown) => void
  turnTimer: NodeJS.Timeout
}

/** Where a patch waits for its write: this process's queues, or the session's inbox in Redis. */
export interface PatchQueue {
  /** Resolves with the session after this patch, or rejects with this patch's own error. */
  enqueue(patch: PatchContext): Promise<PatchResult>
  /** Sessions with queued or running work. */
  activeSessions(): number
  /** Patches accepted and not yet settled. */
  inFlight(): number
}

/**
 * Per-session FIFO queues within the process (docs/consistency.md#serialization). While one batch of a session is
 * being written, later patches wait; the next cycle takes up to `maxBatch` of them, in arrival order, for one read
 * and one write, at the moment it can start (see BatchSource).
 * Only patches with the same credentials share a write (in forward mode each caller's token authorizes its own).
 * A queue exists only while it has work, so memory does not grow with the number of sessions ever seen.
 */
export function createSessionQueues(options: { maxBatch: number; runBatch: RunBatch }): PatchQueue {
  const queues = new Map<string, QueueEntry[]>()
  let inFlight = 0

  async function drain(sessionId: string, queue: QueueEntry[]): Promise<void> {
    while (queue.length > 0) {
      const taken: QueueEntry[] = []
      const source: BatchSource = {
        head: () => queue[0]?.patch,
        take(count = options.maxBatch) {
          const batch = takeBatch(queue, count)
          for (const entry of batch) clearTimeout(entry.turnTimer)
          taken.push(...batch)
          return batch.map((entry) => entry.patch)
        },
      }
      const settlements = await options.runBatch(source).catch((error: unknown) => {
        return new Map(taken.map((entry) => [entry.patch, { ok: false as const, error }]))
      })
      for (const entry of taken) {
        const settlement = settlements.get(entry.patch) ?? { ok: false, error: new Error('patch left unsettled') }
        if (settlement.ok) entry.resolve(settlement.result)
        else entry.reject(settlement.error)
      }
    }
    queues.delete(sessionId)
  }

  return {
    enqueue(patch) {
      inFlight++
      return new Promise<PatchResult>((resolve, reject) => {
        let queue = queues.get(patch.sessionId)
        const startDrain = queue === undefined
        if (queue === undefined) {
          queue = []
          queues.set(patch.sessionId, queue)
        }
        const waitMs = Math.min(patch.turnDeadline.remainingMs(), patch.deadline.remainingMs())
        const turnTimer = setTimeout(() => {
          const index = queue.indexOf(entry)
          if (index === -1) return
          queue.splice(index, 1)
          reject(new ProxyError('E_LOCK_TIMEOUT'))
        }, waitMs)
        const entry: QueueEntry = { patch, resolve, reject, turnTimer }
        queue.push(entry)
        if (startDrain) void drain(patch.sessionId, queue)
      }).finally(() => inFlight--)
    },
    activeSessions: () => queues.size,
    inFlight: () => inFlight,
  }
}

function takeBatch(queue: QueueEntry[], maxBatch: number): QueueEntry[] {
  if (queue.length === 0) return []
  const authorization = queue[0]!.patch.caller.authorization
  let size = 1
  while (size < queue.length && size < maxBatch && queue[size]!.patch.caller.authorization === authorization) size++
  return queue.splice(0, size)
}
