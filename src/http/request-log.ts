import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The level of fastify's `incoming request` and `request completed` lines for this route, instead of info:
     * probes and scrapers call the operations endpoints every few seconds (docs/operations.md#logs).
     */
    requestLogLevel?: 'debug'
  }
}

/**
 * fastify's request lines, with the request id under `requestId`, at the route's `requestLogLevel` when it has one.
 * A route's own `logLevel` cannot do this: it sets the level below which a request's lines are dropped, not the
 * level they are written at.
 */
export class RequestLogController extends LogController {
  constructor() {
    super({ requestIdLogLabel: 'requestId' })
  }

  override incomingRequest(request: FastifyRequest, reply: FastifyReply): void {
    if (quietLevel(request) === undefined) return super.incomingRequest(request, reply)
    if (!this.isLogDisabled(request)) request.log.debug({ req: request }, 'incoming request')
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    // A response that failed on its way out is worth its error line wherever it came from.
    if (error || quietLevel(request) === undefined) return super.requestCompleted(error, request, reply)
    if (!this.isLogDisabled(request)) reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed')
  }
}

function quietLevel(request: FastifyRequest): 'debug' | undefined {
  return request.routeOptions?.config?.requestLogLevel
}
