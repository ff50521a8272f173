import { parseJsonLeniently } from '../merge/json-tree.ts'
import { sessionPatchBodySchema, type SessionPatchBody } from '../schemas.ts'
import { buildInvalidBody, describeZodIssues, type AifiErrorBody } from './aifi-error-body.ts'

export type PatchBodyResult = { ok: true; body: SessionPatchBody } | { ok: false; error: AifiErrorBody }

/**
 * Validates a PATCH body as AiFi does: a JSON object with only `suspectedFraud` (exactly `true`) and
 * `metadata` (an object). The stored metadata is taken from `JSON.parse`'s own result, not the schema's
 * output, so it is kept exactly as the client sent it.
 */
export function parsePatchBody(raw: string): PatchBodyResult {
  const parsed = parseJsonLeniently(raw)
  if (parsed === undefined) return { ok: false, error: buildInvalidBody('Invalid request body', []) }
  const checked = sessionPatchBodySchema.safeParse(parsed)
  if (!checked.success) {
    return { ok: false, error: buildInvalidBody('Invalid request body', describeZodIssues(checked.error.issues)) }
  }
  return { ok: true, body: parsed as SessionPatchBody }
}
