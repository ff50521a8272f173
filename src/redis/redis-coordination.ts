import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { FastifyBaseLogger } from 'fastify'
import type { RedisClientType } from 'redis'
import type { Coordination } from '../composition.ts'
import type { Config } from '../config.ts'
import { systemClock, withTimeout, type Clock } from '../deadline.ts'
import type { Metrics } from '../metrics.ts'
import { createRedisFairQuota } from '../quota/redis-quota.ts'
import { boundRedisCalls } from './bounded-redis.ts'
import { createRedisIdempotencyStore } from './redis-idempotency-store.ts'
import { createRedisInbox } from './redis-inbox.ts'
import { createRedisLock } from './redis-lock.ts'

// A healthy Redis answers in well under a millisecond; one that takes a second is as good as down.
export const REDIS_CALL_TIMEOUT_MS = 1_000
// How often an idle replica checks that Redis still answers: a pause is noticed within this and one call's bound.
const HEARTBEAT_MS = 500

export interface RedisConnections {
  client: RedisClientType
  /** Pub/sub needs a connection of its own: a subscribed connection can run no other command. */
  subscriber: RedisClientType
}

/**
 * The session locks, the AiFi quota, the inboxes and the Idempotency-Key answers in Redis
 * (docs/consistency.md#several-replicas), on connections the caller made: src/server.ts from REDIS_URL, a test
 * from its own Redis, under a key prefix of its own.
 */
export function createRedisCoordination(
  config: Config,
  connections: RedisConnections,
  deps: { logger: FastifyBaseLogger; metrics: Metrics; aifiOrigin: string; keyPrefix?: string; nameReplica?: () => string; clock?: Clock },
): Coordination {
  const { client, subscriber } = connections
  const { logger, metrics } = deps
  const prefix = deps.keyPrefix ?? 'aifi-merge-proxy:'
  const faultListeners: Array<() => void> = []
  const fault = () => faultListeners.forEach((listener) => listener())
  const bounded = (operation: string) =>
    boundRedisCalls(client, REDIS_CALL_TIMEOUT_MS, () => {
      metrics.redisErrors.inc({ operation })
      fault()
    })

  const lock = createRedisLock({
    client: bounded('lock'),
    notices: { subscribe: (channel, onMessage) => subscriber.subscribe(channel, onMessage) },
    ttlMs: config.lockTtlMs,
    logger,
    keyPrefix: `${prefix}lock:`,
    onTakeover: () => metrics.lockTakeovers.inc(),
  })
  const listening: Array<() => Promise<void>> = [() => lock.listen()]
  // Once subscribed, the client subscribes again by itself after every reconnect.
  const subscribeAll = () =>
    Promise.all(listening.map((listen) => listen())).catch((error: Error) => logger.warn({ err: { type: error.name } }, 'could not subscribe in Redis'))
  const subscribed = subscriber.isReady ? subscribeAll() : new Promise<void>((resolve) => subscriber.once('ready', () => void subscribeAll().then(() => resolve())))
  const subscribing: Array<Promise<unknown>> = [subscribed]
  /** A subscription made after the others: kept across reconnects with them, and waited for by `listening()`. */
  const listenAlso = (listen: () => Promise<void>) => {
    listening.push(listen)
    if (subscriber.isReady) subscribing.push(subscribed.then(listen))
  }
  // Each replica's inbox and quota hear channels of their own: names unique in the cluster.
  const uniqueName = () => `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`

  // A dropped connection (a restart, a cut) is a fault at once; a paused Redis, at the heartbeat's bounded PING.
  for (const connection of [client, subscriber]) connection.on('error', fault)
  const heartbeatClient = bounded('heartbeat')
  const heartbeat = setInterval(() => void heartbeatClient.ping().catch(() => {}), HEARTBEAT_MS)
  heartbeat.unref()

  return {
    lock,
    quota(quotaDeps) {
      const quota = createRedisFairQuota(
        {
          client: bounded('quota'),
          subscribe: (channel, onMessage) => subscriber.subscribe(channel, onMessage),
          unsubscribe: (channel, onMessage) => subscriber.unsubscribe(channel, onMessage),
          ratePerSecond: config.aifiMaxRps,
          aifiOrigin: deps.aifiOrigin,
          replicaId: uniqueName(),
          keyPrefix: `${prefix}quota:`,
        },
        quotaDeps,
      )
      listenAlso(() => quota.listen())
      return quota
    },
    // A running marker outlives the request that set it, but not by much: a crashed replica frees its keys.
    idempotency: createRedisIdempotencyStore({
      client: bounded('idempotency'),
      runningTtlMs: config.requestDeadlineMs + 5_000,
      bounds: config.idempotencyBounds,
      keyPrefix: `${prefix}idempotency:`,
    }),
    sharedInbox(waiting) {
      const inbox = createRedisInbox({
        client: bounded('inbox'),
        subscribe: (channel, onMessage) => subscriber.subscribe(channel, onMessage),
        onSettlement: (id, settlement) => void waiting.answer(id, settlement),
        retentionMs: config.requestDeadlineMs + 5_000,
        clock: deps.clock ?? systemClock,
        logger,
        replicaId: deps.nameReplica?.() ?? uniqueName(),
        keyPrefix: `${prefix}inbox:`,
      })
      listenAlso(() => inbox.listen())
      return inbox
    },
    onFault: (listener) => void faultListeners.push(listener),
    listening: async () => void (await Promise.all(subscribing)),
    // Lock releases and settlements arrive on the subscribed connection: a replica without it is not ready.
    isReady: async () => subscriber.isReady && (await lock.isReady()),
    releaseAll: () => lock.releaseAll(),
    close: async () => {
      clearInterval(heartbeat)
      await lock.releaseAll()
    },
  }
}

/** Connects to REDIS_URL: fails fast while disconnected (a 503 now beats a request parked) and keeps reconnecting. */
export async function connectRedis(url: string, logger: FastifyBaseLogger): Promise<RedisConnections & { close(): Promise<void> }> {
  const { createClient } = await import('redis')
  // Reconnect attempts back off to at most 500 ms, so service resumes within a second of Redis answering again.
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: { connectTimeout: 5_000, reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 500) },
  }) as RedisClientType
  const subscriber = client.duplicate()
  for (const connection of [client, subscriber]) {
    connection.on('error', (error: Error) => logger.warn({ err: { type: error.name } }, 'Redis connection problem'))
    void connection.connect().catch((error: Error) => logger.error({ err: { type: error.name } }, 'could not connect to Redis'))
  }
  return {
    client,
    subscriber,
    async close() {
      for (const connection of [subscriber, client]) {
        // A graceful close waits for Redis's answer to QUIT, which a stalled or cut-off Redis never sends.
        if (connection.isReady) await withTimeout(connection.close(), REDIS_CALL_TIMEOUT_MS, () => new Error('QUIT unanswered')).catch(() => {})
        if (connection.isOpen) connection.destroy()
      }
    },
  }
}

/** Production's Redis coordination: connected to REDIS_URL, under the default key prefix. */
export async function connectRedisCoordination(
  config: Config & { redisUrl: string },
  deps: { logger: FastifyBaseLogger; metrics: Metrics; aifiOrigin: string },
): Promise<{ coordination: Coordination; close(): Promise<void> }> {
  const connections = await connectRedis(config.redisUrl, deps.logger)
  const coordination = createRedisCoordination(config, connections, deps)
  return {
    coordination,
    close: async () => {
      await coordination.close()
      await connections.close()
    },
  }
}
