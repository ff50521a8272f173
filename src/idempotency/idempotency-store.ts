import type { IdempotencyClaim } from '../request-context.ts'

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
  begin(claim: IdempotencyClaim): Promise<BeginResult>
  /** Keeps a 2xx answer for the retention period, within its caller's bounds. */
  complete(claim: IdempotencyClaim, response: StoredResponse): Promise<void>
  /** The request failed: the key is free again. */
  abandon(claim: IdempotencyClaim): Promise<void>
}

/**
 * What one caller's kept answers may cost (IDEMPOTENCY_MAX_BYTES_PER_CALLER, IDEMPOTENCY_MAX_KEYS_PER_CALLER).
 * Past either bound the caller's own oldest answers go: no caller can push out another's
 * (docs/http-api.md#idempotency-key).
 */
export interface IdempotencyBounds {
  maxBytesPerCaller: number
  maxKeysPerCaller: number
}

export const DEFAULT_IDEMPOTENCY_BOUNDS: IdempotencyBounds = { maxBytesPerCaller: 16 * 1024 * 1024, maxKeysPerCaller: 10_000 }

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000

/** The record both stores keep per key. */
export type IdempotencyRecord =
  | { state: 'running'; fingerprint: string }
  | { state: 'done'; fingerprint: string; response: StoredResponse }

export function judge(record: IdempotencyRecord, fingerprint: string): BeginResult {
  if (record.fingerprint !== fingerprint) return { kind: 'mismatch' }
  return record.state === 'running' ? { kind: 'in-progress' } : { kind: 'replay', response: record.response }
}
