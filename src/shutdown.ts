import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import { delay } from './deadline.ts'
import { ProxyError } from './errors.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** True from the first shutdown signal on: /readyz answers 503 and the API refuses new requests. */
    isDraining(): boolean
    /**
     * Drains, then closes the app (docs/operations.md#graceful-shutdown). Resolves true when everything finished within the grace period,
     * false as soon as the grace period ran out (the close then goes on in the background).
     */
    gracefulClose(): Promise<boolean>
  }
}

/** The session queues expose a count, not an event, so draining looks again this often. */
const IDLE_POLL_MS = 20

/**
 * Graceful shutdown, done here rather than by fastify: `app.close()` stops the listener at once, and its
 * `return503OnClosing` answers in fastify's shape, not AiFi's. While draining the listener stays open, new API
 * requests are refused (see refuseWhileDraining), and close() waits for every request in flight and every
 * accepted patch, including one whose caller went away, so no cycle is cut between its read and its write.
 */
export const gracefulShutdown = fp(
  async (app: FastifyInstance, options: { graceMs: number }) => {
    let draining = false
    let activeRequests = 0

    app.addHook('onRequest', (_request, reply, done) => {
      activeRequests++
      // 'close' fires once per response, whether it was sent in full or the client went away.
      reply.raw.once('close', () => activeRequests--)
      done()
    })

    const isIdle = () => activeRequests === 0 && app.sessionQueues.inFlight() === 0

    app.decorate('isDraining', () => draining)
    app.decorate('gracefulClose', async () => {
      draining = true
      let graceTimer: NodeJS.Timeout | undefined
      const graceRanOut = new Promise<false>((resolve) => {
        graceTimer = setTimeout(() => resolve(false), options.graceMs)
      })
      const drained = (async () => {
        while (!isIdle()) await delay(IDLE_POLL_MS)
        await app.close()
        return true as const
      })()
      try {
        return await Promise.race([drained, graceRanOut])
      } finally {
        clearTimeout(graceTimer)
      }
    })
  },
  { name: 'graceful-shutdown', decorators: { fastify: ['sessionQueues'] } },
)

/** onRequest hook for the API scope: while draining, a new request is told to go to another replica. */
export function refuseWhileDraining(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  if (!request.server.isDraining()) return done()
  done(new ProxyError('E_SHUTTING_DOWN', { headers: { connection: 'close' } }))
}
