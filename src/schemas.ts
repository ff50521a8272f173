import { z } from 'zod'

// One place for the wire shapes, shared by the routes, the AiFi client and the simulator.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }
export type JsonObject = { [key: string]: JsonValue }

export const jsonObjectSchema = z.record(z.string(), z.unknown()).transform((value) => value as JsonObject)

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
 * so everything else passes through untouched (aifi-contract.md §4).
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

/** The list endpoint's envelope. What follows `data` is undocumented, so it is kept as it comes. */
export const sessionListSchema = z
  .object({
    data: z.array(sessionSchema),
  })
  .passthrough()
export type SessionList = z.infer<typeof sessionListSchema>

/** AiFi's validation error body, which the proxy also uses for its own errors (plus `requestId`). */
export const fieldErrorSchema = z.object({
  error: z.string(),
  rule: z.string(),
  field: z.string(),
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
