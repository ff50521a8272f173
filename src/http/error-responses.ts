import { proxyErrorBodySchema } from '../schemas.ts'

const described = proxyErrorBodySchema.describe("AiFi's error shape plus the proxy's request id (see the error table)")

/** OpenAPI response entries for the error statuses a route can answer with (SPEC §3.4). */
export function errorResponses<const S extends number>(...statuses: S[]): Record<S, typeof described> {
  return Object.fromEntries(statuses.map((status) => [status, described])) as Record<S, typeof described>
}
