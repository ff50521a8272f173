import { z } from 'zod'
import { isJsonObject, type JsonObject, type JsonValue } from './merge/json-tree.ts'

// One place for the wire shapes, shared by the routes, the AiFi client and the simulator.

/** AiFi's sessions collection: the proxy serves the same paths it calls (docs/aifi-upstream.md). */
export const SESSIONS_PATH = '/api/admin/v2/sessions'

/** A number a double would change is a RawJSON leaf, kept as its text (docs/http-api.md#numbers). */
export type { JsonObject, JsonValue }

/**
 * A raw number (docs/http-api.md#numbers) is an object to zod's record, so it is shown to the record as the plain
 * number it is, which the record refuses as it refuses any number. The preprocess leaves the JSON schema as is.
 */
const jsonObjectSchema = z
  .preprocess((value) => (JSON.isRawJSON(value) ? Number(value.rawJSON) : value), z.record(z.string(), z.unknown()))
  .transform((value) => value as JsonObject)

/** AiFi's PATCH body. `suspectedFraud` can only raise the flag, never clear it. */
export const sessionPatchBodySchema = z
  .object({
    suspectedFraud: z.literal(true).optional(),
    metadata: jsonObjectSchema.optional(),
  })
  .strict()
export type SessionPatchBody = z.infer<typeof sessionPatchBodySchema>

/**
 * An AiFi session. Only the fields the proxy relies on are named; AiFi documents ~27 and sends more,
 * so everything else passes through untouched (docs/aifi-upstream.md).
 */
export const sessionSchema = z
  .object({
    sessionId: z.string().optional(),
    sessionToken: z.string().optional(),
    suspectedFraud: z.boolean().optional(),
    metadata: z.unknown().optional(),
  })
  .passthrough()
export type Session = z.infer<typeof sessionSchema>

/**
 * The list endpoint's envelope. What follows `data` is undocumented, so it is kept as it comes. Items are only
 * checked to be objects here: the one selected is parsed with sessionSchema, so copying every item is not needed.
 */
export const sessionListSchema = z
  .object({
    data: z.array(z.custom<Record<string, unknown>>(isJsonObject, 'expected a session object')),
  })
  .passthrough()

/** AiFi's validation error body, which the proxy also uses for its own errors (plus `requestId`). */
const fieldErrorSchema = z.object({
  error: z.string(),
  rule: z.string(),
  field: z.string().describe(
    'Where the problem is: an RFC 6901 JSON pointer into the request body ("/metadata/events"; "" for the whole body), ' +
      'or the name of a header or query parameter ("Idempotency-Key", "dryRun"). In E_UPSTREAM_REJECTED, AiFi\'s own field, as AiFi sent it.',
  ),
})
export type FieldError = z.infer<typeof fieldErrorSchema>

export const aifiErrorBodySchema = z
  .object({
    message: z.string(),
    type: z.string(),
    errors: z.array(fieldErrorSchema),
  })
  .passthrough()

export const proxyErrorBodySchema = z.object({
  message: z.string(),
  type: z.string(),
  errors: z.array(fieldErrorSchema),
  requestId: z.string(),
})
export type ProxyErrorBody = z.infer<typeof proxyErrorBodySchema>
