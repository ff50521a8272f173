import { IDEMPOTENCY_TTL_MS, judge, type IdempotencyRecord, type IdempotencyStore } from './idempotency-store.ts'

interface Entry {
  record: IdempotencyRecord
  expiresAt: number
}

/**
 * An in-process store, bounded in size: past `maxEntries` the oldest entries go first (a Map iterates in
 * insertion order), so a flood of keys costs memory up to the bound and no further.
 */
export function createMemoryIdempotencyStore(
  options: { maxEntries?: number; ttlMs?: number; now?: () => number } = {},
): IdempotencyStore & { size(): number } {
  const maxEntries = options.maxEntries ?? 10_000
  const ttlMs = options.ttlMs ?? IDEMPOTENCY_TTL_MS
  const now = options.now ?? Date.now
  const entries = new Map<string, Entry>()

  function live(key: string): Entry | undefined {
    const entry = entries.get(key)
    if (entry !== undefined && entry.expiresAt <= now()) {
      entries.delete(key)
      return undefined
    }
    return entry
  }

  function put(key: string, record: IdempotencyRecord): void {
    entries.delete(key)
    entries.set(key, { record, expiresAt: now() + ttlMs })
    while (entries.size > maxEntries) entries.delete(entries.keys().next().value!)
  }

  return {
    async begin(key, fingerprint) {
      const entry = live(key)
      if (entry !== undefined) return judge(entry.record, fingerprint)
      put(key, { state: 'running', fingerprint })
      return { kind: 'started' }
    },
    async complete(key, fingerprint, response) {
      put(key, { state: 'done', fingerprint, response })
    },
    async abandon(key, fingerprint) {
      const entry = entries.get(key)
      if (entry?.record.state === 'running' && entry.record.fingerprint === fingerprint) entries.delete(key)
    },
    size: () => entries.size,
  }
}
