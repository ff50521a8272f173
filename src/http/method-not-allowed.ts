import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify'
import { ProxyError } from '../errors.ts'
import { sendError } from './error-handler.ts'

/**
 * A known path with a wrong method is 405 with `Allow`, not fastify's 404 (SPEC §3.5), for every method fastify
 * routes (PROPFIND and QUERY too). It answers in onRequest, before fastify reads the body: the method check comes
 * before body checks, so a wrong method with an unreadable body is still a 405.
 */
export function registerMethodNotAllowed(app: FastifyInstance, url: string, allowed: HTTPMethods[]): void {
  const allow = allowed.includes('GET') && !allowed.includes('HEAD') ? [...allowed, 'HEAD'] : allowed
  const refuse = async (request: FastifyRequest, reply: FastifyReply) =>
    sendError(request, reply.header('allow', allow.join(', ')), new ProxyError('E_METHOD_NOT_ALLOWED'))
  app.route({
    method: app.supportedMethods.filter((method) => !allow.includes(method as HTTPMethods)) as HTTPMethods[],
    url,
    schema: { hide: true },
    onRequest: refuse,
    handler: refuse,
  })
}
