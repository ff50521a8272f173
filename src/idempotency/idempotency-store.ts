/** The first 2xx answer to a request with an Idempotency-Key, replayed to retries of the same request. */
export interface StoredResponse {
  statusCode: number
  body: string
  etag: string
  mergeResult: string
}

export type BeginResult =
  | { kind: 'started' }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'mismatch' }
  | { kind: 'in-progress' }

/**
 * Keys are scoped per caller, so two callers cannot see each other's answers. A fingerprint identifies the
 * request (session id, query and body bytes): the same key with another fingerprint is a mismatch (docs/http-api.md#idempotency-key).
 */
export interface IdempotencyStore {
  begin(scopedKey: string, fingerprint: string): Promise<BeginResult>
  /** Keeps a 2xx answer for the retention period. */
  complete(scopedKey: string, fingerprint: string, response: StoredResponse): Promise<void>
  /** The request failed: the key is free again. */
  abandon(scopedKey: string, fingerprint: string): Promise<void>
}

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000

/** The record both stores keep per key. */
export type IdempotencyRecord =
  | { state: 'running'; fingerprint: string }
  | { state: 'done'; fingerprint: string; response: StoredResponse }

export function judge(record: IdempotencyRecord, fingerprint: string): BeginResult {
  if (record.fingerprint !== fingerprint) return { kind: 'mismatch' }
  return record.state === 'running' ? { kind: 'in-progress' } : { kind: 'replay', response: record.response }
}
