import { hash } from 'node:crypto'
import type { RedisClientType } from 'redis'
import { coordinationUnavailable, ProxyError } from '../errors.ts'
import { DEFAULT_BURST } from './gcra.ts'
import { createPump } from './pump.ts'
import { latestStart, outrunByTurnsAhead, type FairQuota, type FairQuotaDeps, type QuotaRequest } from './quota.ts'
import { ENQUEUE, GRANT, PEEK, scheduleChannel, scheduleKeys } from './redis-schedule-scripts.ts'
import { CANCEL, CHARGE, PAUSE } from './redis-schedule-upkeep.ts'

/**
 * How long a replica's requests stay in the schedule after it last called: a replica that dies holds no grant
 * beyond it. A replica with requests waiting calls at least every quarter of it.
 */
export const SCHEDULE_LEASE_MS = 2_000

export type QuotaRedisClient = Pick<RedisClientType, 'eval'>

// What ENQUEUE answers first (redis-schedule-scripts.ts).
const REFUSED = 0
const GRANTED = 2

interface LocalWaiter {
  flow: string
  enqueuedAt: number
  timer: NodeJS.Timeout
  resolve(waitedMs: number): void
  reject(error: unknown): void
}

export interface RedisQuotaOptions {
  client: QuotaRedisClient
  /** Subscribes on the connection that hears this replica's grants and refusals. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<unknown>
  unsubscribe(channel: string, onMessage: (message: string) => void): Promise<unknown>
  ratePerSecond: number
  aifiOrigin: string
  /** Names this replica's requests and channel: unique in the cluster. */
  replicaId: string
  keyPrefix?: string
  burst?: number
}

/**
 * AiFi's quota shared out for the whole cluster (docs/consistency.md#sharing-the-quota): one schedule per AiFi
 * origin in Redis, timed by Redis's clock (redis-schedule-scripts.ts). Each request waits in it in weighted fair
 * order whichever replica it reached; while this replica has requests waiting, it calls the schedule whenever the
 * next slot is due, and the call grants that slot to the fairest request in the cluster, whose replica hears it
 * on its channel. A Redis that does not answer refuses the wait: no call goes out above the quota.
 */
export function createRedisFairQuota(options: RedisQuotaOptions, deps: FairQuotaDeps): FairQuota & { listen(): Promise<void> } {
  const { client, replicaId } = options
  const { clock, shareOf, observe } = deps
  const intervalMs = 1000 / options.ratePerSecond
  const burst = options.burst ?? DEFAULT_BURST
  const toleranceMs = Math.max(0, burst - 1) * intervalMs
  const base = `${options.keyPrefix ?? 'aifi-merge-proxy:quota:'}{${hash('sha256', options.aifiOrigin, 'base64url')}}`
  const keys = scheduleKeys(base)
  const channel = scheduleChannel(base, replicaId)
  // What every script is told first: where replicas hear their answers, the rate, the lease, and who calls.
  const common = [scheduleChannel(base, ''), intervalMs, toleranceMs, SCHEDULE_LEASE_MS, replicaId]
  const waiters = new Map<string, LocalWaiter>()
  let requests = 0

  async function run(script: string, args: Array<string | number>): Promise<unknown> {
    try {
      return await client.eval(script, { keys, arguments: [...common, ...args].map(String) })
    } catch (cause) {
      throw coordinationUnavailable('the shared AiFi quota cannot be reserved', cause)
    }
  }

  /** What JUDGE reads (ENQUEUE's and PEEK's ARGV[6..10]): the request's id, flow, weight, tokens, most ms it may wait. */
  const judged = (id: string, request: QuotaRequest, maxWaitMs: number) => [id, request.flow, shareOf(request.flow), request.tokens, maxWaitMs]

  function exhausted(flow: string, retryAfterMs: number): ProxyError {
    observe?.refused(flow)
    return new ProxyError('E_QUOTA_EXHAUSTED', { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) })
  }

  /** Answers a waiter of this process once: granted (its wait in ms) or refused. */
  function settle(id: string, outcome: { waitedMs: number } | { error: unknown }): void {
    const waiter = waiters.get(id)
    if (waiter === undefined) return
    waiters.delete(id)
    clearTimeout(waiter.timer)
    observe?.waiting(waiter.flow, -1)
    if ('error' in outcome) return waiter.reject(outcome.error)
    observe?.granted(waiter.flow, outcome.waitedMs)
    waiter.resolve(outcome.waitedMs)
  }

  function onMessage(message: string): void {
    const [kind, id, retryAfterMs] = message.split(' ')
    const waiter = waiters.get(id ?? '')
    if (waiter === undefined) return
    if (kind === 'g') settle(id!, { waitedMs: clock.now() - waiter.enqueuedAt })
    else settle(id!, { error: exhausted(waiter.flow, Number(retryAfterMs)) })
  }

  /** While requests of this replica wait, calls the schedule each time a slot comes due (and renews the lease). */
  const pump = createPump(async () => {
    if (waiters.size === 0) return undefined
    try {
      const [nextSlotMs, ...answers] = (await run(GRANT, [])) as [number, ...string[]]
      answers.forEach(onMessage)
      // -1: nothing waits in Redis, though this process still has waiters: their answers are on their way.
      return Math.min(nextSlotMs < 0 ? intervalMs : nextSlotMs, SCHEDULE_LEASE_MS / 4)
    } catch (error) {
      abandonAll(error)
      return undefined
    }
  })

  /** Answers every waiter of this process with `error`, and takes their requests out of the schedule if it can. */
  function abandonAll(error: unknown): void {
    for (const id of [...waiters.keys()]) {
      settle(id, { error })
      void run(CANCEL, [id]).catch(() => {})
    }
  }

  return {
    async refuseAtOnce(request, ahead) {
      const latestStartAt = latestStart(request, intervalMs)
      // This replica's own turns ahead are judged without a round trip: in a flood, they are what Redis has not
      // heard of yet. The schedule is asked only while this replica has requests waiting in it, so an
      // uncontended patch pays no round trip; a turn it expects after the latest start by this process's clock
      // is as hopeless as its refusal (as in reserve).
      let retryAfterMs: number | undefined
      if (outrunByTurnsAhead(request, ahead.turnsAhead, { intervalMs, burst }, clock.now())) retryAfterMs = ahead.turnsAhead * request.tokens * intervalMs
      else if (waiters.size > 0) {
        const [outcome, ms] = (await run(PEEK, judged('', request, Math.max(0, latestStartAt - clock.now())))) as [number, number]
        if (outcome === REFUSED || clock.now() + ms > latestStartAt) retryAfterMs = ms
      }
      return retryAfterMs !== undefined && (await ahead.needsTurnOfItsOwn()) ? exhausted(request.flow, retryAfterMs) : undefined
    },
    async reserve(request: QuotaRequest): Promise<number> {
      const id = `${replicaId}#${++requests}`
      const enqueuedAt = clock.now()
      const latestStartAt = latestStart(request, intervalMs)
      const maxWaitMs = Math.max(0, latestStartAt - enqueuedAt)
      // A request still waiting when its calls could no longer run in time gives its place back.
      const giveUp = () => {
        settle(id, { error: exhausted(request.flow, intervalMs * request.tokens) })
        void run(CANCEL, [id]).catch(() => {})
      }
      // Registered before Redis hears of it: a grant may arrive before the enqueue's own answer.
      const answer = new Promise<number>((resolve, reject) => {
        waiters.set(id, { flow: request.flow, enqueuedAt, timer: setTimeout(giveUp, maxWaitMs), resolve, reject })
      })
      // Its answer may come (a refusal, a fault) while the enqueue below is still awaited, before the caller holds
      // the promise: marked handled here, so that is no unhandled rejection; the caller still sees it.
      answer.catch(() => {})
      observe?.waiting(request.flow, 1)
      let enqueued: [number, number]
      try {
        enqueued = (await run(ENQUEUE, judged(id, request, maxWaitMs))) as [number, number]
      } catch (error) {
        settle(id, { error })
        return answer
      }
      const [outcome, ms] = enqueued
      if (outcome === GRANTED) settle(id, { waitedMs: clock.now() - enqueuedAt })
      else if (outcome === REFUSED) settle(id, { error: exhausted(request.flow, ms) })
      else if (clock.now() + ms > latestStartAt) {
        // Redis heard of the request later than it was sent, and counted its wait from then: by this process's
        // clock, the turn it expects comes too late.
        settle(id, { error: exhausted(request.flow, ms) })
        void run(CANCEL, [id]).catch(() => {})
      } else {
        // Redis counts the wait from when it heard of the request, up to a round trip later than it was sent, and
        // refuses it itself once that wait is over. Giving up earlier here would leave a slot it may still grant
        // unused, and a caller refused late: this timer is only the backstop, the same wait counted from now, a
        // round trip after Redis's own.
        const waiter = waiters.get(id)
        if (waiter !== undefined) {
          clearTimeout(waiter.timer)
          waiter.timer = setTimeout(giveUp, maxWaitMs)
        }
        void pump.start()
      }
      return answer
    },
    charge(paidBy, tokens, patchesByFlow) {
      const carried = [...patchesByFlow].flatMap(([flow, count]) => [flow, count, shareOf(flow)])
      void run(CHARGE, [paidBy, shareOf(paidBy), tokens, ...carried]).catch(() => {})
    },
    pause: (ms) => run(PAUSE, [Math.ceil(ms)]).then(() => {}, () => {}),
    onCoordinationFault: () => abandonAll(coordinationUnavailable('the shared AiFi quota was cut off')),
    listen: () => options.subscribe(channel, onMessage).then(() => {}),
    close() {
      pump.stop()
      for (const waiter of waiters.values()) clearTimeout(waiter.timer)
      void Promise.resolve()
        .then(() => options.unsubscribe(channel, onMessage))
        .catch(() => {})
    },
  }
}
