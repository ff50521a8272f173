import type { FastifyBaseLogger } from 'fastify'
import type { TakenBatch } from '../coordinator/merge-cycle.ts'
import type { LockLease, SessionLock } from '../coordinator/session-lock.ts'
import type { Settlement } from '../coordinator/settlement.ts'
import { createDeadline, type Clock } from '../deadline.ts'
import { parseJsonKeepingDigits } from '../merge/index.ts'
import type { PatchContext } from '../request-context.ts'
import type { SessionPatchBody } from '../schemas.ts'
import { encodeBatch } from './inbox-settlements.ts'
import type { RedisLease } from './redis-lock.ts'
import { sessionTag } from './redis-keys.ts'
import { INBOX_MARK_WRITTEN, INBOX_SETTLE, INBOX_TAKE } from './scripts.ts'

// The lock holder's side of the shared inbox (src/redis/shared-inbox.ts): take a batch under the lease, run the
// merge cycle on it, and settle it, each step one script that checks the lease's token.

export interface InboxClient {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>
}

/** What an inbox entry holds: who asked for what, never a secret (the caller's name, not its key). */
export interface EntryData {
  id: string
  replica: string
  caller: string
  requestId: string
  body: SessionPatchBody
  ifMatch: string | null
}

/** The keys and channels of one inbox key space. */
export function inboxKeys(prefix: string) {
  return {
    // The session's id is a caller's choice: only its digest names keys (redis-keys.ts).
    of: (sessionId: string) => ({
      inbox: `${prefix}${sessionTag(sessionId)}:queue`,
      taken: `${prefix}${sessionTag(sessionId)}:taken`,
      written: `${prefix}${sessionTag(sessionId)}:written`,
    }),
    settled: (entryId: string) => `${prefix}settled:${entryId}`,
    settledPrefix: `${prefix}settled:`,
    channel: (replica: string) => `${prefix}replica:${replica}`,
  }
}

export type InboxKeys = ReturnType<typeof inboxKeys>

/** A taken batch, in arrival order, with each patch's entry id (each patch names its replica). */
export interface Taken {
  patches: PatchContext[]
  idOf: Map<PatchContext, string>
  /** Patches a crashed holder's write may have carried. */
  mayHaveLanded: Set<PatchContext>
}

/** `<pushedAt> <turnAt> <deadlineAt> <json>`, as INBOX_PUSH stores it. */
const ENTRY = /^(\d+) (\d+) (\d+) ([\s\S]*)$/

export interface InboxHolderOptions {
  client: InboxClient
  keys: InboxKeys
  maxBatch: number
  /** How long a taken batch and a settlement live untouched, in ms. */
  retention: string
  /** This replica's own patch of that entry id, if it is one: it is marked taken and used as it is. */
  claimLocal(entryId: string): PatchContext | undefined
  runTaken(taken: TakenBatch): Promise<Map<PatchContext, Settlement>>
  replicaId: string
  clock: Clock
  logger: FastifyBaseLogger
}

export function createInboxHolder(options: InboxHolderOptions) {
  const { client, keys, retention, clock, logger, replicaId } = options

  /** The batch for this lease: a crashed holder's first, then the inbox. Undefined when the lease was lost. */
  async function take(sessionId: string, lease: RedisLease, head: PatchContext): Promise<Taken | undefined> {
    const { inbox, taken, written } = keys.of(sessionId)
    const reply = (await client.eval(INBOX_TAKE, {
      keys: [inbox, taken, written, lease.key],
      arguments: [lease.token, String(options.maxBatch), retention],
    })) as [number, string[], string[]] | [-1]
    if (reply[0] === -1) return undefined
    const [now, entries, writtenIds] = reply as [number, string[], string[]]
    const wasWritten = new Set(writtenIds)
    const batch: Taken = { patches: [], idOf: new Map(), mayHaveLanded: new Set() }
    for (const stored of entries) {
      const [, pushedAt, , deadlineAt, json] = ENTRY.exec(stored)!
      // Keeping digits: the caller's numbers are written from here (docs/http-api.md#numbers).
      const data = parseJsonKeepingDigits(json!) as EntryData
      const patch: PatchContext = options.claimLocal(data.id) ?? {
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

  /**
   * Runs the batch under `lease` and settles it: each settlement kept, and published to its caller's replica.
   * Resolves with this replica's own settlements, or undefined when the lease was lost: the batch then stays
   * taken, and the next holder re-runs it.
   */
  async function runAndSettle(
    sessionId: string,
    lease: RedisLease,
    taken: Taken & { turnWaitMs: number; quotaWaitMs: number },
  ): Promise<Array<[string, Settlement]> | undefined> {
    const { taken: takenKey, written } = keys.of(sessionId)
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
    const heldLock: SessionLock = { acquire: async () => (lost ? undefined : held), isReady: async () => true, releaseAll: async () => {} }
    const { turnWaitMs, quotaWaitMs, mayHaveLanded } = taken
    const settlements = await options.runTaken({ patches: taken.patches, lease: held, lock: heldLock, mayHaveLanded, turnWaitMs, quotaWaitMs })
    if (lost) return undefined

    const settled = taken.patches.map((patch) => ({
      id: taken.idOf.get(patch)!,
      replica: patch.replica!,
      settlement: settlements.get(patch) ?? { ok: false, error: new Error('patch left unsettled') },
    }))
    const { stored, messages } = encodeBatch(settled, logger)
    // This replica's own callers are answered directly, once the settlements are kept.
    messages.delete(replicaId)
    const published = [...messages].flatMap(([replica, message]) => [keys.channel(replica), message])
    try {
      const kept = await client.eval(INBOX_SETTLE, {
        keys: [lease.key, takenKey, written],
        arguments: [lease.token, retention, keys.settledPrefix, String(settled.length), ...stored, ...published],
      })
      if (kept !== 1) return undefined
    } catch (error) {
      logger.warn({ err: error, sessionId }, 'shared inbox: could not settle a batch; the next lock holder re-runs it')
      return undefined
    }
    return settled.filter((entry) => entry.replica === replicaId).map((entry) => [entry.id, entry.settlement])
  }

  return { take, runAndSettle }
}
