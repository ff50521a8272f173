import { hash } from 'node:crypto'

/**
 * A session's keys name it by a digest of its id, inside a hash tag (docs/operations.md#redis). Session ids are
 * chosen by callers and may hold any character (`:`, `{`, `taken`, newlines): spliced in raw, one id could spell
 * another session's key or another kind of key. A digest cannot, and the tag keeps a session's keys in one
 * Redis Cluster slot, as its scripts need.
 */
export function sessionTag(sessionId: string): string {
  return `{${hash('sha256', sessionId, 'base64url')}}`
}
