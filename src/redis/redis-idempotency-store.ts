import type { RedisClientType } from 'redis'
import { IDEMPOTENCY_TTL_MS, judge, type IdempotencyRecord, type IdempotencyStore } from '../idempotency/idempotency-store.ts'
import { COMPARE_AND_DELETE } from './scripts.ts'

export type IdempotencyRedisClient = Pick<RedisClientType, 'set' | 'get' | 'eval'>

/**
 * Shared by every replica, so a retry that lands on another replica is still recognised. A running marker
 * expires after `runningTtlMs` (longer than a request's deadline) so a crashed replica cannot hold a key forever.
 */
export function createRedisIdempotencyStore(options: {
  client: IdempotencyRedisClient
  runningTtlMs: number
  keyPrefix?: string
}): IdempotencyStore {
  const { client, runningTtlMs } = options
  const prefix = options.keyPrefix ?? 'aifi-merge-proxy:idempotency:'
  const running = (fingerprint: string) => JSON.stringify({ state: 'running', fingerprint } satisfies IdempotencyRecord)

  return {
    async begin(key, fingerprint) {
      const claimed = await client.set(prefix + key, running(fingerprint), {
        condition: 'NX',
        expiration: { type: 'PX', value: runningTtlMs },
      })
      if (claimed === 'OK') return { kind: 'started' }
      const existing = await client.get(prefix + key)
      if (existing === null) return this.begin(key, fingerprint)
      return judge(JSON.parse(existing) as IdempotencyRecord, fingerprint)
    },
    async complete(key, fingerprint, response) {
      const record: IdempotencyRecord = { state: 'done', fingerprint, response }
      await client.set(prefix + key, JSON.stringify(record), { expiration: { type: 'PX', value: IDEMPOTENCY_TTL_MS } })
    },
    async abandon(key, fingerprint) {
      // Deletes the key only while it still holds this request's running marker.
      await client.eval(COMPARE_AND_DELETE, { keys: [prefix + key], arguments: [running(fingerprint)] })
    },
  }
}
