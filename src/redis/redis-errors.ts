import { ProxyError } from '../errors.ts'

/**
 * Redis did not answer a call that decides whether a patch may proceed (docs/consistency.md#redis-down): nothing
 * was written, and the caller may retry at once elsewhere or later. Only for calls that cannot have queued the
 * patch: a patch already in an inbox is answered as the inbox's protocol decides (redis-inbox.ts).
 */
export function coordinationUnavailable(what: string, cause: unknown): ProxyError {
  return new ProxyError('E_COORDINATION_UNAVAILABLE', { message: `Redis does not answer: ${what}`, cause })
}
