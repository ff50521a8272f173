import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { FastifyBaseLogger } from 'fastify'
import type { TakenBatch } from '../coordinator/merge-cycle.ts'
import type { PatchQueue } from '../coordinator/session-queues.ts'
import type { LockLease, SessionLock } from '../coordinator/session-lock.ts'
import type { PatchResult, Settlement } from '../coordinator/settlement.ts'
import { createDeadline, type Clock } from '../deadline.ts'
import { ProxyError } from '../errors.ts'
import type { PatchContext } from '../request-context.ts'
import type { SessionPatchBody } from '../schemas.ts'
import { decodeMessage, decodeStored, encodeBatch } from './inbox-settlements.ts'
import type { RedisLease } from './redis-lock.ts'
import { INBOX_MARK_WRITTEN, INBOX_PUSH, INBOX_SETTLE, INBOX_TAKE, INBOX_WITHDRAW } from './scripts.ts'

/** What buildApp hands the inbox once the merge cycle exists. */
export interface InboxCycle {
  runTaken: SharedInboxOptions['runTaken']
  reserveCycle: SharedInboxOptions['reserveCycle']
  maxBatch: number
}

export type SharedInboxFactory = (cycle: InboxCycle) => PatchQueue

export interface SharedInboxOptions {
  /** Calls bounded in time (src/redis/bounded-redis.ts): every inbox step is one script. */
  client: { eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown> }
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

/** What an inbox entry holds: who asked for what, never a secret (the caller's name, not its key). */
interface EntryData {
  id: string
  replica: string
  caller: string
  requestId: string
  body: SessionPatchBody
  ifMatch: string | null
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

/** A taken batch, in arrival order, with each patch's entry id (each patch names its replica). */
interface Taken {
  patches: PatchContext[]
  idOf: Map<PatchContext, string>
  /** Patches a crashed holder's write may have carried. */
  mayHaveLanded: Set<PatchContext>
}

/** `<pushedAt> <turnAt> <deadlineAt> <json>`, as INBOX_PUSH stores it. */
const ENTRY = /^(\d+) (\d+) (\d+) ([\s\S]*)$/

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
  const prefix = options.keyPrefix ?? 'aifi-merge-proxy:inbox:'
  const retention = String(options.retentionMs)
  const keys = (sessionId: string) => ({
    inbox: `${prefix}${sessionId}`,
    taken: `${prefix}${sessionId}:taken`,
    written: `${prefix}${sessionId}:written`,
  })
  const settledPrefix = `${prefix}settled:`
  const channelOf = (replica: string) => `${prefix}replica:${replica}`

  const waiting = new Map<string, Waiting>()
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

  /** The caller's turn ran out: its patch comes back out of the inbox, unless a holder has already taken it. */
  async function turnOver(entry: Waiting): Promise<void> {
    if (entry.taken || entry.stored === undefined) return
    const { inbox } = keys(entry.patch.sessionId)
    try {
      const reply = await client.eval(INBOX_WITHDRAW, { keys: [inbox, settledPrefix + entry.id], arguments: [entry.stored] })
      if (reply === 1) return finish(entry, { ok: false, error: new ProxyError('E_LOCK_TIMEOUT') })
      if (typeof reply === 'string') return finish(entry, decodeStored(reply))
      entry.taken = true
      changed(entry.patch.sessionId)
    } catch (error) {
      // No holder takes an entry after its turn (judged on Redis's clock), so this answer stays true.
      finish(entry, { ok: false, error: unavailable(error) })
    }
  }

  /** The request's deadline: the settlement if one was kept, or 504, since a taken patch may have been applied. */
  async function deadlinePassed(entry: Waiting): Promise<void> {
    let reply: unknown
    try {
      reply = await client.eval(INBOX_WITHDRAW, { keys: [keys(entry.patch.sessionId).inbox, settledPrefix + entry.id], arguments: [entry.stored ?? ''] })
    } catch {
      reply = 0
    }
    if (typeof reply === 'string') return finish(entry, decodeStored(reply))
    finish(entry, { ok: false, error: new ProxyError(reply === 1 ? 'E_LOCK_TIMEOUT' : 'E_UPSTREAM_TIMEOUT') })
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
        const withdrawn = await client.eval(INBOX_WITHDRAW, { keys: [keys(sessionId).inbox, settledPrefix + head.id], arguments: [head.stored ?? ''] })
        if (withdrawn === 1) finish(head, { ok: false, error })
        else head.taken = true
        return
      }
      const quotaWaitMs = clock.now() - askedForTokens
      const taken = await takeBatch(sessionId, lease, head.patch)
      if (taken === undefined) return
      // Nothing to serve: this replica's patches are in a batch being settled, or their own timers will answer.
      if (taken.patches.length === 0) return await change
      await runAndSettle(sessionId, lease, { ...taken, turnWaitMs, quotaWaitMs })
    } finally {
      await lease.release()
    }
  }

  /** The batch for this lease: a crashed holder's first, then the inbox. Undefined when the lease was lost. */
  async function takeBatch(sessionId: string, lease: RedisLease, head: PatchContext): Promise<Taken | undefined> {
    const { inbox, taken, written } = keys(sessionId)
    const reply = (await client.eval(INBOX_TAKE, {
      keys: [inbox, taken, written, lease.key],
      arguments: [lease.token, String(maxBatch), retention],
    })) as [number, string[], string[]] | [-1]
    if (reply[0] === -1) return undefined
    const [now, entries, writtenIds] = reply as [number, string[], string[]]
    const wasWritten = new Set(writtenIds)
    const batch: Taken = { patches: [], idOf: new Map(), mayHaveLanded: new Set() }
    for (const stored of entries) {
      const [, pushedAt, , deadlineAt, json] = ENTRY.exec(stored)!
      const data = JSON.parse(json!) as EntryData
      const local = waiting.get(data.id)
      if (local !== undefined) local.taken = true
      const patch: PatchContext = local?.patch ?? {
        sessionId,
        requestId: data.requestId,
        // In service mode every caller's patch goes to AiFi with the proxy's own credentials.
        caller: { name: data.caller, authorization: head.caller.authorization, scope: `key:${data.caller}` },
        deadline: createDeadline(Number(deadlineAt) - now, clock.now),
        turnDeadline: createDeadline(0, clock.now),
        receivedAt: clock.now() - (now - Number(pushedAt)),
        body: data.body,
        ifMatch: data.ifMatch ?? undefined,
        dryRun: false,
        idempotency: undefined,
        replica: data.replica,
      }
      batch.patches.push(patch)
      batch.idOf.set(patch, data.id)
      if (wasWritten.has(data.id)) batch.mayHaveLanded.add(patch)
    }
    return batch
  }

  async function runAndSettle(
    sessionId: string,
    lease: RedisLease,
    taken: Taken & { turnWaitMs: number; quotaWaitMs: number },
  ): Promise<void> {
    const { written } = keys(sessionId)
    let lost = false
    // The cycle's attempts all run under this one lease; before each write, the ids it carries are recorded.
    const held: LockLease = {
      async confirm(writing) {
        if (lost || !(await lease.confirm(writing))) return !(lost = true)
        const ids = writing.map((patch) => taken.idOf.get(patch)!)
        try {
          const marked = await client.eval(INBOX_MARK_WRITTEN, { keys: [lease.key, written], arguments: [lease.token, retention, ...ids] })
          if (marked !== 1) lost = true
        } catch {
          lost = true
        }
        return !lost
      },
      release: async () => {},
    }
    const heldLock: SessionLock = { acquire: async () => (lost ? undefined : held), isReady: () => lock.isReady(), releaseAll: async () => {} }
    const settlements = await options.runTaken({ patches: taken.patches, lease: held, lock: heldLock, mayHaveLanded: taken.mayHaveLanded, turnWaitMs: taken.turnWaitMs, quotaWaitMs: taken.quotaWaitMs })
    // A lease lost mid-cycle leaves the batch taken: the next holder re-runs it, and its settlements are the answers.
    if (lost) return

    const { stored, messages } = encodeBatch(
      taken.patches.map((patch) => ({
        id: taken.idOf.get(patch)!,
        replica: patch.replica!,
        settlement: settlements.get(patch) ?? { ok: false, error: new Error('patch left unsettled') },
      })),
      logger,
    )
    // This replica's own callers are answered directly, once the settlements are kept.
    messages.delete(replicaId)
    const published = [...messages].flatMap(([replica, message]) => [channelOf(replica), message])
    const { taken: takenKey } = keys(sessionId)
    let settled: unknown
    try {
      settled = await client.eval(INBOX_SETTLE, {
        keys: [lease.key, takenKey, written],
        arguments: [lease.token, retention, settledPrefix, String(taken.patches.length), ...stored, ...published],
      })
    } catch (error) {
      logger.warn({ err: error, sessionId }, 'shared inbox: could not settle a batch; the next lock holder re-runs it')
      return
    }
    if (settled !== 1) return
    for (const patch of taken.patches) {
      const entry = waiting.get(taken.idOf.get(patch)!)
      if (entry !== undefined) finish(entry, settlements.get(patch) ?? { ok: false, error: new Error('patch left unsettled') })
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
      await options.subscribe(channelOf(replicaId), onSettlements)
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
            keys: [keys(sessionId).inbox],
            arguments: [JSON.stringify(data), String(turnMs), String(patch.deadline.remainingMs()), retention],
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
