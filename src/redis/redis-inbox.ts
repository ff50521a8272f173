import type { FastifyBaseLogger } from 'fastify'
import { ClientClosedError, ClientOfflineError, ErrorReply } from 'redis'
import { InboxUncertainError, type Inbox, type TakenBatch, type WithdrawOutcome } from '../coordinator/inbox.ts'
import type { Settlements } from '../coordinator/patch-record.ts'
import type { Settlement } from '../coordinator/settlement.ts'
import type { Clock } from '../deadline.ts'
import { coordinationUnavailable } from '../errors.ts'
import { decodeEntry, encodeEntry, HAND_BACK_TURN, HAS_QUEUED, HOLD_TURN, inboxKeys, KEPT, MARK_WRITTEN, PUSH, SETTLE, TAKE, WITHDRAW } from './inbox-protocol.ts'
import { decodeMessage, decodeStored, encodeBatch } from './inbox-settlements.ts'
import type { RedisLease } from './redis-lock.ts'

export interface InboxClient {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>
}

export interface RedisInboxOptions {
  /** Calls bounded in time (bounded-redis.ts): every step is one script. */
  client: InboxClient
  /** Settlements for this replica's callers arrive on a channel of its own (a subscribed connection). */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>
  /** Where a settlement message for this replica's callers goes. */
  onSettlement(id: string, settlement: Settlement): void
  /** How long queues, taken batches and settlements live untouched: past every request's deadline. */
  retentionMs: number
  clock: Clock
  logger: FastifyBaseLogger
  /** Names this replica in queue entries and audit lines; unique per process. */
  replicaId: string
  keyPrefix?: string
}

/**
 * One inbox per session for the whole cluster (docs/consistency.md#the-shared-inbox): the protocol of
 * inbox-protocol.ts over Redis. A push that fails before it was sent, or that Redis refused, is a plain failure;
 * one whose answer never came may have run, and says so (InboxUncertainError): a withdraw decides.
 */
export function createRedisInbox(options: RedisInboxOptions): Inbox<RedisLease> & { listen(): Promise<void> } {
  const { client, clock, logger, replicaId } = options
  const keys = inboxKeys(options.keyPrefix ?? 'aifi-merge-proxy:inbox:')
  const retention = String(options.retentionMs)
  const run = (script: string, scriptKeys: string[], args: string[]) => client.eval(script, { keys: scriptKeys, arguments: args })

  return {
    async listen() {
      await options.subscribe(keys.channel(replicaId), (message) => {
        let settled: Array<[string, Settlement]>
        try {
          settled = decodeMessage(message)
        } catch {
          return logger.warn('shared inbox: a settlement message could not be read')
        }
        for (const [id, settlement] of settled) options.onSettlement(id, settlement)
      })
    },

    async push(record) {
      const { queue, entryPrefix } = keys.of(record.sessionId)
      const now = clock.now()
      const args = [encodeEntry({ ...record, replica: replicaId }), String(record.turnAt - now), String(record.deadlineAt - now), retention]
      let pushed: unknown
      try {
        pushed = await run(PUSH, [queue, entryPrefix + record.id], args)
      } catch (error) {
        if (error instanceof ClientOfflineError || error instanceof ClientClosedError || error instanceof ErrorReply) {
          throw coordinationUnavailable('the patch cannot be queued', error)
        }
        throw new InboxUncertainError('Redis did not confirm the push', { cause: error })
      }
      if (pushed !== 1) throw coordinationUnavailable('the patch cannot be queued', undefined)
    },

    async take(sessionId, lease, maxBatch): Promise<TakenBatch | undefined> {
      const { queue, taken, written, turnHeld, entryPrefix } = keys.of(sessionId)
      const reply = (await run(TAKE, [queue, taken, written, lease.key, turnHeld], [lease.token, String(maxBatch), retention, entryPrefix])) as
        | [number, string[], string[]]
        | [-1]
      if (reply[0] === -1) return undefined
      const [now, entries, writtenIds] = reply as [number, string[], string[]]
      const localNow = clock.now()
      return { patches: entries.map((stored) => decodeEntry(stored, sessionId, now, localNow)), mayHaveLanded: new Set(writtenIds) }
    },

    async markWriting(sessionId, lease, ids) {
      return (await run(MARK_WRITTEN, [lease.key, keys.of(sessionId).written], [lease.token, retention, ...ids])) === 1
    },

    async settle(sessionId, lease, batch, settlements: Settlements) {
      const { taken, written, entryPrefix } = keys.of(sessionId)
      const settled = batch.patches.map((record) => ({
        id: record.id,
        replica: record.replica ?? replicaId,
        settlement: settlements.get(record.id) ?? { ok: false as const, error: new Error('patch left unsettled') },
      }))
      const { stored, messages } = encodeBatch(settled, logger)
      // This replica's own callers are answered directly, once the settlements are kept.
      messages.delete(replicaId)
      const published = [...messages].flatMap(([replica, message]) => [keys.channel(replica), message])
      const args = [lease.token, retention, entryPrefix, String(settled.length), ...stored, ...published]
      return (await run(SETTLE, [lease.key, taken, written], args)) === 1
    },

    async holdTurn(sessionId, lease, untilAt) {
      const ms = Math.max(1, Math.ceil(untilAt - clock.now()))
      await run(HOLD_TURN, [keys.of(sessionId).turnHeld, lease.key], [lease.token, String(ms)])
    },
    async handBackTurn(sessionId) {
      await run(HAND_BACK_TURN, [keys.of(sessionId).turnHeld], [])
    },
    async withdraw(record, forTurn = false): Promise<WithdrawOutcome> {
      const { queue, entryPrefix, turnHeld } = keys.of(record.sessionId)
      const reply = await run(WITHDRAW, [queue, entryPrefix + record.id, turnHeld], [retention, forTurn ? '1' : '0'])
      if (reply === 1) return { kind: 'withdrawn' }
      if (reply === 0) return { kind: 'taken' }
      if (reply === 2) return { kind: 'held' }
      if (reply === -1) return { kind: 'gone' }
      return { kind: 'settled', settlement: decodeStored(reply as string) }
    },

    async hasQueued(sessionId) {
      try {
        return (await run(HAS_QUEUED, [keys.of(sessionId).queue], [])) === 1
      } catch (error) {
        throw coordinationUnavailable("the session's inbox cannot be read", error)
      }
    },

    async keptSettlements(records) {
      const states = records.map((record) => keys.of(record.sessionId).entryPrefix + record.id)
      const values = (await run(KEPT, states, [])) as Array<string | null>
      const kept: Settlements = new Map()
      values.forEach((value, index) => {
        if (value?.startsWith('{')) kept.set(records[index]!.id, decodeStored(value))
      })
      return kept
    },
  }
}
