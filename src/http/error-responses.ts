import { proxyErrorBodySchema } from '../schemas.ts'

/** The instance every error response uses, so the OpenAPI document can name it once (src/openapi.ts). */
export const errorBodySchema = proxyErrorBodySchema.describe("AiFi's error shape plus the proxy's request id (see the error table)")

/** OpenAPI response entries for the error statuses a route can answer with (docs/http-api.md#errors). */
export function errorResponses<const S extends number>(...statuses: S[]): Record<S, typeof errorBodySchema> {
  return Object.fromEntries(statuses.map((status) => [status, errorBodySchema])) as Record<S, typeof errorBodySchema>
}
