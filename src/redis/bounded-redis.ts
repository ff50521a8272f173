import type { RedisClientType } from 'redis'
import { withTimeout } from '../deadline.ts'
import type { IdempotencyRedisClient } from './redis-idempotency-store.ts'
import type { LockRedisClient } from './redis-lock.ts'

export type BoundedRedisClient = LockRedisClient & IdempotencyRedisClient

class RedisTimeoutError extends Error {
  override name = 'RedisTimeoutError'
}

/**
 * The Redis calls this service makes, each bounded by `timeoutMs`. A stalled or paused Redis keeps its socket
 * open, so without a bound a lock request, a release or an idempotency lookup could wait forever, past every
 * deadline and through a shutdown. A late answer to a timed-out SET NX leaves a lock nobody holds, which
 * expires after its lease. `onError` sees every failed call, for the metrics.
 */
export function boundRedisCalls(client: RedisClientType, timeoutMs: number, onError: (error: unknown) => void = () => {}): BoundedRedisClient {
  const bound =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      withTimeout(call(...args), timeoutMs, () => new RedisTimeoutError(`Redis did not answer within ${timeoutMs} ms`)).catch((error: unknown) => {
        onError(error)
        throw error
      })
  return {
    set: bound(client.set.bind(client)),
    get: bound(client.get.bind(client)),
    eval: bound(client.eval.bind(client)),
    ping: bound(client.ping.bind(client)),
    get isReady() {
      return client.isReady
    },
  } as BoundedRedisClient
}
