import { createHash } from 'node:crypto'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import type { PatchResult } from '../coordinator/settlement.ts'
import { coordinationUnavailable, ProxyError, fieldError } from '../errors.ts'
import type { IdempotencyStore, StoredResponse } from '../idempotency/idempotency-store.ts'
import type { Caller, IdempotencyClaim } from '../request-context.ts'
import { ACCEPT_PATCH } from './json-body-parser.ts'

const MAX_KEY_LENGTH = 255

export type IdempotentOutcome = { kind: 'fresh'; result: PatchResult } | { kind: 'replay'; response: StoredResponse }

/**
 * The request's Idempotency-Key, scoped to its caller and tied to the request's bytes; undefined without one, and
 * for a dry run, whose answer is not kept: it wrote nothing, so replaying it buys nothing, and keeping it would
 * spend the caller's bound (docs/http-api.md#idempotency-key). A dry run's key is still checked.
 */
export function readIdempotencyClaim(request: FastifyRequest, caller: Caller, dryRun: boolean): IdempotencyClaim | undefined {
  const header = request.headers['idempotency-key']
  if (header === undefined) return undefined
  if (typeof header !== 'string' || header.length === 0 || header.length > MAX_KEY_LENGTH) {
    const errors = [fieldError('Idempotency-Key', `must be 1 to ${MAX_KEY_LENGTH} characters`, 'string.length')]
    throw new ProxyError('E_INVALID_BODY', { message: 'Invalid Idempotency-Key header', errors })
  }
  if (dryRun) return undefined
  const fingerprint = createHash('sha256').update(`${request.url}\n`).update(request.bodyDigest).digest('base64url')
  return { callerScope: caller.scope, scopedKey: `${caller.scope}:${header}`, fingerprint }
}

/**
 * Idempotency-Key (docs/http-api.md#idempotency-key, after Stripe and draft-ietf-httpapi-idempotency-key-header):
 * the first 2xx answer for a (caller, key) pair is replayed to retries of the same request; an error frees the
 * key again.
 */
export async function runIdempotently(
  store: IdempotencyStore,
  claim: IdempotencyClaim | undefined,
  log: FastifyBaseLogger,
  run: () => Promise<PatchResult>,
): Promise<IdempotentOutcome> {
  if (claim === undefined) return { kind: 'fresh', result: await run() }
  const begun = await guardStore(() => store.begin(claim))
  if (begun.kind === 'replay') return begun
  if (begun.kind === 'mismatch') throw new ProxyError('E_IDEMPOTENCY_MISMATCH')
  if (begun.kind === 'in-progress') throw new ProxyError('E_IDEMPOTENCY_IN_PROGRESS')

  let result: PatchResult
  try {
    result = await run()
  } catch (error) {
    await guardStore(() => store.abandon(claim)).catch(() => {})
    throw error
  }
  const response = { statusCode: 200, body: JSON.stringify(result.session), etag: result.etag, mergeResult: result.mergeResult }
  // The write happened: failing to keep its answer must not turn it into an error.
  await store.complete(claim, response).catch((error: unknown) => {
    log.warn({ err: error }, 'could not keep the answer for an Idempotency-Key')
  })
  return { kind: 'fresh', result }
}

export function sendReplay(reply: FastifyReply, response: StoredResponse): FastifyReply {
  return reply
    .code(response.statusCode)
    .header('etag', response.etag)
    .header('x-merge-result', response.mergeResult)
    .header('idempotency-replayed', 'true')
    .header('accept-patch', ACCEPT_PATCH)
    .type('application/json; charset=utf-8')
    .send(response.body)
}

async function guardStore<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    throw coordinationUnavailable('the idempotency store cannot be reached, retry later', error)
  }
}
