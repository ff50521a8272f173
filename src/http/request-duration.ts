import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Metrics } from '../metrics.ts'

const MERGE_OUTCOMES: Record<string, string> = { applied: 'applied', noop: 'noop', 'dry-run': 'dry_run' }

/**
 * Observes every answered request in `aifi_proxy_request_duration_seconds` (docs/operations.md#metrics). Labels stay
 * bounded whatever callers send: the route's pattern, never its URL (a session id would make a series per session),
 * and requests no route serves (unknown paths, wrong methods: anyone can invent those) share `unmatched`.
 */
export function recordRequestDurations(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', (request, reply, done) => {
    metrics.requestDuration.observe({ route: routeLabel(request, reply), outcome: outcomeLabel(reply) }, reply.elapsedTime / 1000)
    done()
  })
}

function routeLabel(request: FastifyRequest, reply: FastifyReply): string {
  const pattern = request.routeOptions.url
  // 405s come from a catch-all route per path that takes every method fastify knows.
  if (pattern === undefined || reply.statusCode === 405 || request.is404) return 'unmatched'
  return `${request.method} ${pattern}`
}

function outcomeLabel(reply: FastifyReply): string {
  const mergeResult = reply.getHeader('x-merge-result')
  if (reply.statusCode === 200 && typeof mergeResult === 'string' && mergeResult in MERGE_OUTCOMES) return MERGE_OUTCOMES[mergeResult]!
  return `${Math.floor(reply.statusCode / 100)}xx`
}
