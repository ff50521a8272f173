import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { FastifyBaseLogger } from 'fastify'
import type { TakenBatch } from '../coordinator/merge-cycle.ts'
import type { PatchQueue } from '../coordinator/session-queues.ts'
import type { SessionLock } from '../coordinator/session-lock.ts'
import type { PatchResult, Settlement } from '../coordinator/settlement.ts'
import type { Clock } from '../deadline.ts'
import { ProxyError } from '../errors.ts'
import type { PatchContext } from '../request-context.ts'
import { createInboxHolder, inboxKeys, type EntryData, type InboxClient } from './inbox-holder.ts'
import { decodeMessage, decodeStored } from './inbox-settlements.ts'
import type { RedisLease } from './redis-lock.ts'
import { INBOX_PUSH, INBOX_SETTLEMENTS, INBOX_WITHDRAW } from './scripts.ts'

/** What buildApp hands the inbox once the merge cycle exists. */
export interface InboxCycle {
  runTaken: SharedInboxOptions['runTaken']
  reserveCycle: SharedInboxOptions['reserveCycle']
  maxBatch: number
}

export type SharedInboxFactory = (cycle: InboxCycle) => PatchQueue

export interface SharedInboxOptions {
  /** Calls bounded in time (src/redis/bounded-redis.ts): every inbox step is one script. */
  client: InboxClient
  /** Settlements for this replica's callers arrive on a channel of its own (a subscribed connection). */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>
  lock: SessionLock<RedisLease>
  /** Runs a taken batch: the merge cycle's runTaken. */
  runTaken(taken: TakenBatch): Promise<Map<PatchContext, Settlement>>
  /** Takes a cycle's read and write tokens from the quota before its batch is taken (late binding). */
  reserveCycle(context: PatchContext): Promise<void>
  maxBatch: number
  /** How long inboxes, taken batches and settlements live untouched: past every request's deadline. */
  retentionMs: number
  clock: Clock
  logger: FastifyBaseLogger
  /** Names this replica in the inbox and in audit lines; unique per process. */
  replicaId?: string
  keyPrefix?: string
}

/** A patch of this replica's, from its push until its caller has an answer. */
interface Waiting {
  id: string
  patch: PatchContext
  /** The entry as Redis keeps it, which withdrawing it needs; unset until the push has answered. */
  stored: string | undefined
  /** Taken into a batch by some lock holder: from now on only a settlement or the request deadline answers it. */
  taken: boolean
  resolve(result: PatchResult): void
  reject(error: unknown): void
  timers: NodeJS.Timeout[]
}

/**
 * One queue per session across replicas (docs/consistency.md#the-shared-inbox). A patch goes into its session's inbox
 * in Redis; whichever replica holds the session's lock takes the inbox, in arrival order, as one batch, runs the
 * merge cycle on it, and publishes each patch's settlement to the replica holding that caller's connection. Every
 * replica with a patch waiting competes for the lock, so a batch is served as soon as any holder is free, and a
 * batch whose holder died is re-run first by the next one.
 */
export function createSharedInbox(options: SharedInboxOptions): PatchQueue & { listen(): Promise<void>; replicaId: string } {
  const { client, lock, clock, logger, maxBatch } = options
  const replicaId = options.replicaId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  const redisKeys = inboxKeys(options.keyPrefix ?? 'aifi-merge-proxy:inbox:')

  const waiting = new Map<string, Waiting>()
  const holder = createInboxHolder({
    client,
    keys: redisKeys,
    maxBatch,
    retention: String(options.retentionMs),
    claimLocal(entryId) {
      const local = waiting.get(entryId)
      if (local !== undefined) local.taken = true
      return local?.patch
    },
    runTaken: options.runTaken,
    replicaId,
    clock,
    logger,
  })
  const bySession = new Map<string, Waiting[]>()
  const changeListeners = new Map<string, Set<() => void>>()
  const driving = new Set<string>()

  const unavailable = (cause: unknown) =>
    new ProxyError('E_COORDINATION_UNAVAILABLE', { message: 'Redis does not answer: the patch cannot be queued', cause })

  /** Resolves at the next change to this replica's patches of `sessionId`: one answered, taken, or added. */
  function nextChange(sessionId: string): Promise<void> {
    return new Promise((resolve) => changeListeners.set(sessionId, (changeListeners.get(sessionId) ?? new Set()).add(resolve)))
  }
  function changed(sessionId: string): void {
    const listeners = changeListeners.get(sessionId)
    changeListeners.delete(sessionId)
    listeners?.forEach((listener) => listener())
  }

  function finish(entry: Waiting, settlement: Settlement): void {
    if (!waiting.delete(entry.id)) return
    entry.timers.forEach(clearTimeout)
    const queue = bySession.get(entry.patch.sessionId)!
    queue.splice(queue.indexOf(entry), 1)
    if (queue.length === 0) bySession.delete(entry.patch.sessionId)
    if (settlement.ok) entry.resolve(settlement.result)
    else entry.reject(settlement.error)
    changed(entry.patch.sessionId)
  }

  /**
   * Takes the entry back out of the inbox if no holder has taken it: 'withdrawn', its kept settlement if it was
   * taken and settled, or 'taken' while its batch runs.
   */
  async function withdraw(entry: Waiting): Promise<'withdrawn' | 'taken' | Settlement> {
    const reply = await client.eval(INBOX_WITHDRAW, {
      keys: [redisKeys.of(entry.patch.sessionId).inbox, redisKeys.settled(entry.id)],
      arguments: [entry.stored ?? ''],
    })
    if (reply === 1) return 'withdrawn'
    return typeof reply === 'string' ? decodeStored(reply) : 'taken'
  }

  /** The caller's turn ran out: its patch comes back out of the inbox, unless a holder has already taken it. */
  async function turnOver(entry: Waiting): Promise<void> {
    if (entry.taken || entry.stored === undefined) return
    let outcome: Awaited<ReturnType<typeof withdraw>>
    try {
      outcome = await withdraw(entry)
    } catch (error) {
      // No holder takes an entry after its turn (judged on Redis's clock), so this answer stays true.
      return finish(entry, { ok: false, error: unavailable(error) })
    }
    if (outcome === 'withdrawn') return finish(entry, { ok: false, error: new ProxyError('E_LOCK_TIMEOUT') })
    if (outcome !== 'taken') return finish(entry, outcome)
    entry.taken = true
    changed(entry.patch.sessionId)
  }

  /** The request's deadline: the settlement if one was kept, or 504, since a taken patch may have been applied. */
  async function deadlinePassed(entry: Waiting): Promise<void> {
    const outcome = await withdraw(entry).catch(() => 'taken' as const)
    if (outcome === 'withdrawn') return finish(entry, { ok: false, error: new ProxyError('E_LOCK_TIMEOUT') })
    finish(entry, outcome === 'taken' ? { ok: false, error: new ProxyError('E_UPSTREAM_TIMEOUT') } : outcome)
  }

  /** Answers this replica's patches of the session whose settlements are kept; false when there were none. */
  async function settleFromKept(sessionId: string): Promise<boolean> {
    const pushed = (bySession.get(sessionId) ?? []).filter((entry) => entry.stored !== undefined)
    if (pushed.length === 0) return false
    const kept = (await client.eval(INBOX_SETTLEMENTS, { keys: pushed.map((entry) => redisKeys.settled(entry.id)), arguments: [] })) as Array<string | null>
    pushed.forEach((entry, index) => {
      if (kept[index] != null) finish(entry, decodeStored(kept[index]))
    })
    return kept.some((settlement) => settlement != null)
  }

  async function drive(sessionId: string): Promise<void> {
    if (driving.has(sessionId)) return
    driving.add(sessionId)
    try {
      for (let head = bySession.get(sessionId)?.[0]; head !== undefined; head = bySession.get(sessionId)?.[0]) {
        const change = nextChange(sessionId)
        try {
          await serveOnce(sessionId, head, change)
        } catch (error) {
          // Redis failed mid-step: every waiting patch has timers that answer it; look again at the next change.
          logger.warn({ err: error, sessionId }, 'shared inbox: could not serve a session')
          await change
        }
      }
    } finally {
      driving.delete(sessionId)
      if (!bySession.has(sessionId)) changeListeners.delete(sessionId)
    }
  }

  /** Holds the lock once for `head`'s session, takes a batch (maybe none) and settles it. */
  async function serveOnce(sessionId: string, head: Waiting, change: Promise<void>): Promise<void> {
    const { patch } = head
    const maxWaitMs = head.taken ? patch.deadline.remainingMs() : Math.min(patch.deadline.remainingMs(), patch.turnDeadline.remainingMs())
    let lease: RedisLease | undefined
    try {
      lease = await lock.acquire(sessionId, maxWaitMs)
    } catch (error) {
      // Redis does not answer: said at once to every caller whose patch no holder has taken.
      for (const entry of [...(bySession.get(sessionId) ?? [])]) if (!entry.taken) finish(entry, { ok: false, error })
      if (bySession.has(sessionId)) await change
      return
    }
    // The head's turn or deadline ran out: its own timer answers it, or marks it taken.
    if (lease === undefined) return change
    try {
      const turnWaitMs = clock.now() - patch.receivedAt
      const askedForTokens = clock.now()
      try {
        await options.reserveCycle(patch)
      } catch (error) {
        if (head.taken) return await change
        // No slot before the head's deadline: it leaves the inbox with that answer, unless taken meanwhile.
        const outcome = await withdraw(head)
        if (outcome === 'withdrawn') finish(head, { ok: false, error })
        else if (outcome === 'taken') head.taken = true
        else finish(head, outcome)
        return
      }
      const quotaWaitMs = clock.now() - askedForTokens
      const taken = await holder.take(sessionId, lease, head.patch)
      if (taken === undefined) return
      if (taken.patches.length === 0) {
        // Nothing to serve. This replica's patches were taken and settled by another holder (and their message
        // lost, say across a reconnect: the kept settlements say so), or are being run, or their timers will answer.
        if (!(await settleFromKept(sessionId))) await change
        return
      }
      const own = await holder.runAndSettle(sessionId, lease, { ...taken, turnWaitMs, quotaWaitMs })
      for (const [id, settlement] of own ?? []) {
        const entry = waiting.get(id)
        if (entry !== undefined) finish(entry, settlement)
      }
    } finally {
      await lease.release()
    }
  }

  function onSettlements(message: string): void {
    let settled: Array<[string, Settlement]>
    try {
      settled = decodeMessage(message)
    } catch {
      return logger.warn('shared inbox: a settlement message could not be read')
    }
    for (const [id, settlement] of settled) {
      const entry = waiting.get(id)
      if (entry !== undefined) finish(entry, settlement)
    }
  }

  let inFlight = 0
  return {
    replicaId,
    async listen() {
      await options.subscribe(redisKeys.channel(replicaId), onSettlements)
    },
    enqueue(original) {
      const patch: PatchContext = { ...original, replica: replicaId }
      const { sessionId } = patch
      const id = randomUUID()
      inFlight++
      return new Promise<PatchResult>((resolve, reject) => {
        const entry: Waiting = { id, patch, stored: undefined, taken: false, resolve, reject, timers: [] }
        waiting.set(id, entry)
        bySession.set(sessionId, [...(bySession.get(sessionId) ?? []), entry])
        const data: EntryData = { id, replica: replicaId, caller: patch.caller.name, requestId: patch.requestId, body: patch.body, ifMatch: patch.ifMatch ?? null }
        const turnMs = Math.min(patch.turnDeadline.remainingMs(), patch.deadline.remainingMs())
        client
          .eval(INBOX_PUSH, {
            keys: [redisKeys.of(sessionId).inbox],
            arguments: [JSON.stringify(data), String(turnMs), String(patch.deadline.remainingMs()), String(options.retentionMs)],
          })
          .then(
            (stored) => {
              entry.stored = stored as string
              entry.timers.push(
                setTimeout(() => void turnOver(entry), Math.min(patch.turnDeadline.remainingMs(), patch.deadline.remainingMs())),
                setTimeout(() => void deadlinePassed(entry), patch.deadline.remainingMs()),
              )
              changed(sessionId)
              void drive(sessionId)
            },
            (error: unknown) => finish(entry, { ok: false, error: unavailable(error) }),
          )
      }).finally(() => inFlight--)
    },
    activeSessions: () => bySession.size,
    inFlight: () => inFlight,
  }
}
