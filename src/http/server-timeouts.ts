import type { ServerOptions } from 'node:http'

/** How long a client may take; docs/http-api.md#slow-and-malformed-clients sets the first two. */
export interface ServerTimeouts {
  /** Request headers must arrive within this, else 408 and the connection closes. */
  headersMs: number
  /** The whole request, body included, must arrive within this. */
  requestMs: number
  /** An idle keep-alive connection is closed after this. */
  keepAliveMs: number
}

export const DEFAULT_SERVER_TIMEOUTS: ServerTimeouts = {
  headersMs: 10_000,
  requestMs: 30_000,
  // Longer than the 60 s idle timeout of common load balancers (fastify's default for the same reason): if the
  // proxy closed first, a balancer could send a request down a socket that is closing and answer 502.
  keepAliveMs: 72_000,
}

/** The fastify options that enforce the timeouts on the HTTP/1 server fastify creates. */
export function serverTimeoutOptions(timeouts: ServerTimeouts = DEFAULT_SERVER_TIMEOUTS): {
  requestTimeout: number
  keepAliveTimeout: number
  http: ServerOptions
} {
  return {
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    http: {
      headersTimeout: timeouts.headersMs,
      // Node enforces headersTimeout and requestTimeout only when it sweeps its connections, every 30 s by
      // default: a slow client would then hold its socket up to 30 s past either bound. A tenth of the headers
      // bound keeps every cut-off within 10% of its bound, at the cost of one cheap sweep a second in production.
      connectionsCheckingInterval: Math.max(1, Math.ceil(timeouts.headersMs / 10)),
    },
  }
}
