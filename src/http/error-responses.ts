import { z } from 'zod'
import { ERROR_TYPES } from '../errors.ts'
import { proxyErrorBodySchema } from '../schemas.ts'

/**
 * The instance every error response uses, so the OpenAPI document can name it once (src/openapi.ts). Its `type` is
 * the catalogue's enum, so generated clients know every type. Responses are serialized without their schema
 * (src/app.ts), so this documents and never filters.
 */
export const errorBodySchema = proxyErrorBodySchema
  .extend({ type: z.enum(ERROR_TYPES).describe('The error type (docs/http-api.md#errors)') })
  .describe("AiFi's error shape plus the proxy's request id (see the error table)")

/**
 * Statuses any route can answer, whatever it does: 405 to a method the path does not serve, 408 when the request
 * does not arrive in time, 500 for a fault. src/openapi.ts adds them to every operation.
 */
export const ROUTE_INDEPENDENT_STATUSES = [405, 408, 500] as const

/** OpenAPI response entries for the error statuses a route can answer with (docs/http-api.md#errors). */
export function errorResponses<const S extends number>(...statuses: S[]): Record<S, typeof errorBodySchema> {
  return Object.fromEntries(statuses.map((status) => [status, errorBodySchema])) as Record<S, typeof errorBodySchema>
}
