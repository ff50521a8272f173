import { IDEMPOTENCY_TTL_MS, judge, type IdempotencyRecord, type IdempotencyStore } from './idempotency-store.ts'

interface Entry {
  record: IdempotencyRecord
  expiresAt: number
  bytes: number
}

// What an entry costs beyond its strings: the Map slot and the objects around them, roughly.
const ENTRY_OVERHEAD_BYTES = 200

/**
 * An in-process store, bounded both in entries and in bytes (an answer holds a whole session, which can be
 * a MiB of metadata): past either bound the oldest entries go first (a Map iterates in insertion order), so a
 * flood of keys costs memory up to the bound and no further.
 */
export function createMemoryIdempotencyStore(
  options: { maxEntries?: number; maxBytes?: number; ttlMs?: number; now?: () => number } = {},
): IdempotencyStore {
  const maxEntries = options.maxEntries ?? 10_000
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024
  const ttlMs = options.ttlMs ?? IDEMPOTENCY_TTL_MS
  const now = options.now ?? Date.now
  const entries = new Map<string, Entry>()
  let totalBytes = 0

  function remove(key: string): void {
    const entry = entries.get(key)
    if (entry === undefined) return
    entries.delete(key)
    totalBytes -= entry.bytes
  }

  function live(key: string): Entry | undefined {
    const entry = entries.get(key)
    if (entry !== undefined && entry.expiresAt <= now()) {
      remove(key)
      return undefined
    }
    return entry
  }

  function put(key: string, record: IdempotencyRecord): void {
    remove(key)
    const body = record.state === 'done' ? record.response.body.length : 0
    const bytes = 2 * (key.length + record.fingerprint.length + body) + ENTRY_OVERHEAD_BYTES
    entries.set(key, { record, expiresAt: now() + ttlMs, bytes })
    totalBytes += bytes
    while (entries.size > maxEntries || (totalBytes > maxBytes && entries.size > 1)) remove(entries.keys().next().value!)
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
      if (entry?.record.state === 'running' && entry.record.fingerprint === fingerprint) remove(key)
    },
  }
}
