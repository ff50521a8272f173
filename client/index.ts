// The client library for the proxy's internal callers: `merge`, `get` and `update` with retries that are safe by
// construction (one Idempotency-Key per merge, reused on every attempt). See the README, "Client library".
export { createClient } from './create-client.ts'
export type { ComputePatch, MergeOptions, MergeOutcome, MergeProxyClient, ReadOptions, ReadOutcome, UpdateOptions } from './create-client.ts'
export { MergeProxyError, UNEXPECTED_RESPONSE, type ClientErrorType, type MergeProxyErrorType } from './errors.ts'
export type { ClientOptions } from './options.ts'
export type { Fetch } from './send.ts'
export type { ErrorBody, FieldError, MergeRequestHeaders, MergeResponseHeaders, MergeResult, ProxyErrorType, Session, SessionPatch } from './types.ts'
