import type { FastifyInstance, HTTPMethods } from 'fastify'
import { ProxyError } from '../errors.ts'
import { sendError } from './error-handler.ts'

const ALL_METHODS: HTTPMethods[] = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT']

/** A known path with a wrong method is 405 with `Allow`, not fastify's 404 (SPEC §3.5). */
export function registerMethodNotAllowed(app: FastifyInstance, url: string, allowed: HTTPMethods[]): void {
  const allow = allowed.includes('GET') && !allowed.includes('HEAD') ? [...allowed, 'HEAD'] : allowed
  app.route({
    method: ALL_METHODS.filter((method) => !allow.includes(method)),
    url,
    schema: { hide: true },
    handler: (request, reply) =>
      sendError(request, reply.header('allow', allow.join(', ')), new ProxyError('E_METHOD_NOT_ALLOWED')),
  })
}
