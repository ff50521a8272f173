import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify'
import { ProxyError } from '../errors.ts'
import { sendError } from './error-handler.ts'

/**
 * A known path with a wrong method is 405 with `Allow`, not fastify's 404 (docs/http-api.md#unknown-routes-and-methods), for
 * every method fastify routes (PROPFIND and QUERY too). The paths and their methods are taken from the routes as
 * they are registered, so a new route is covered without being listed. Call before registering routes; the
 * returned function adds the 405 routes once all others are in.
 */
export function collectRoutesForMethodNotAllowed(app: FastifyInstance): () => void {
  const methodsByUrl = new Map<string, Set<string>>()
  let collecting = true
  app.addHook('onRoute', (route) => {
    if (!collecting) return
    const methods = methodsByUrl.get(route.url) ?? new Set<string>()
    for (const method of [route.method].flat()) methods.add(method)
    methodsByUrl.set(route.url, methods)
  })
  return () => {
    collecting = false
    for (const [url, methods] of methodsByUrl) {
      // fastify adds the trailing-slash twin of a prefixed GET route (`/docs/`) without an onRoute call, but reports
      // the HEAD route it exposes for it: a HEAD route here stands for a GET route on the same path.
      if (methods.has('HEAD')) methods.add('GET')
      methods.delete('HEAD')
      registerMethodNotAllowed(app, url, [...methods] as HTTPMethods[])
    }
  }
}

function registerMethodNotAllowed(app: FastifyInstance, url: string, allowed: HTTPMethods[]): void {
  const allow = allowed.includes('GET') && !allowed.includes('HEAD') ? [...allowed, 'HEAD'] : allowed
  const refuse = async (request: FastifyRequest, reply: FastifyReply) =>
    sendError(request, reply.header('allow', allow.join(', ')), new ProxyError('E_METHOD_NOT_ALLOWED'))
  // It answers in onRequest, before fastify reads the body: the method check comes before body checks, so a wrong
  // method with an unreadable body is still a 405.
  app.route({
    method: app.supportedMethods.filter((method) => !allow.includes(method as HTTPMethods)) as HTTPMethods[],
    url,
    schema: { hide: true },
    onRequest: refuse,
    handler: refuse,
  })
}
