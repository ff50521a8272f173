import type { IdempotencyClaim } from '../request-context.ts'
import {
  DEFAULT_IDEMPOTENCY_BOUNDS,
  IDEMPOTENCY_TTL_MS,
  judge,
  type IdempotencyBounds,
  type IdempotencyRecord,
  type IdempotencyStore,
  type StoredResponse,
} from './idempotency-store.ts'

interface Entry {
  record: IdempotencyRecord
  callerScope: string
  expiresAt: number
  /** What a kept answer costs its caller; a running marker costs nothing (there is one per request in flight). */
  bytes: number
}

interface CallerUsage {
  bytes: number
  /** The caller's kept answers, oldest first (a Set iterates in insertion order). */
  answers: Set<string>
}

// What an entry costs beyond its strings: the Map slots and the objects around them, roughly.
const ENTRY_OVERHEAD_BYTES = 200

/**
 * An in-process store, bounded per caller in bytes and in answers (an answer holds a whole session, which can be
 * a MiB of metadata): past either bound the caller's own oldest answers go, never another caller's. Every entry
 * lives the same TTL, so the map, in insertion order, is also in expiry order and expired entries are swept from its front.
 */
export function createMemoryIdempotencyStore(
  options: Partial<IdempotencyBounds> & { ttlMs?: number; now?: () => number } = {},
): IdempotencyStore {
  const { maxBytesPerCaller, maxKeysPerCaller } = { ...DEFAULT_IDEMPOTENCY_BOUNDS, ...options }
  const ttlMs = options.ttlMs ?? IDEMPOTENCY_TTL_MS
  const now = options.now ?? Date.now
  const entries = new Map<string, Entry>()
  const callers = new Map<string, CallerUsage>()

  function remove(key: string): void {
    const entry = entries.get(key)
    if (entry === undefined) return
    entries.delete(key)
    const usage = callers.get(entry.callerScope)
    if (usage === undefined || !usage.answers.delete(key)) return
    usage.bytes -= entry.bytes
    if (usage.answers.size === 0) callers.delete(entry.callerScope)
  }

  function sweepExpired(): void {
    const time = now()
    for (const [key, entry] of entries) {
      if (entry.expiresAt > time) return
      remove(key)
    }
  }

  function put(claim: IdempotencyClaim, record: IdempotencyRecord, bytes: number): void {
    remove(claim.scopedKey)
    entries.set(claim.scopedKey, { record, callerScope: claim.callerScope, expiresAt: now() + ttlMs, bytes })
  }

  function keepAnswer(claim: IdempotencyClaim, response: StoredResponse): void {
    const { scopedKey, fingerprint, callerScope } = claim
    const chars = scopedKey.length + fingerprint.length + response.body.length + response.etag.length
    const bytes = 2 * chars + ENTRY_OVERHEAD_BYTES
    put(claim, { state: 'done', fingerprint, response }, bytes)
    const usage = callers.get(callerScope) ?? { bytes: 0, answers: new Set<string>() }
    callers.set(callerScope, usage)
    usage.answers.add(scopedKey)
    usage.bytes += bytes
    // Oldest first, the new answer last: an answer larger than the whole bound is not kept at all.
    while (usage.answers.size > maxKeysPerCaller || usage.bytes > maxBytesPerCaller) remove(usage.answers.values().next().value!)
  }

  return {
    async begin(claim) {
      sweepExpired()
      const entry = entries.get(claim.scopedKey)
      if (entry !== undefined) return judge(entry.record, claim.fingerprint)
      put(claim, { state: 'running', fingerprint: claim.fingerprint }, 0)
      return { kind: 'started' }
    },
    async complete(claim, response) {
      keepAnswer(claim, response)
    },
    async abandon(claim) {
      const entry = entries.get(claim.scopedKey)
      if (entry?.record.state === 'running' && entry.record.fingerprint === claim.fingerprint) remove(claim.scopedKey)
    },
  }
}
