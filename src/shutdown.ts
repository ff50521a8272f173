import { constants } from 'node:os'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import { delay } from './deadline.ts'
import { ProxyError } from './errors.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** True from the first shutdown signal on: /readyz answers 503. */
    isDraining(): boolean
    /** True once SHUTDOWN_DELAY_MS has passed after the signal: the API refuses new requests. */
    refusesNewRequests(): boolean
    /**
     * Drains, then closes the app (docs/operations.md#graceful-shutdown). Resolves true when everything finished within the grace period,
     * false as soon as the grace period ran out (the close then goes on in the background).
     */
    gracefulClose(signal?: NodeJS.Signals): Promise<boolean>
  }
}

export interface GracefulShutdownOptions {
  /** SHUTDOWN_DELAY_MS: how long the API still serves, with /readyz at 503, before new requests are refused. */
  delayMs: number
  /** SHUTDOWN_GRACE_MS: how long the drain that follows may take. */
  graceMs: number
}

/** The session queues expose a count, not an event, so draining looks again this often. */
const IDLE_POLL_MS = 20

/**
 * Graceful shutdown, done here rather than by fastify: `app.close()` stops the listener at once, and its
 * `return503OnClosing` answers in fastify's shape, not AiFi's. First /readyz turns 503 while the API still serves
 * for `delayMs`: a load balancer takes a while to see it and stop routing here, and until then a refused request
 * would be a failed one. Then new API requests are refused (see refuseWhileDraining) while the listener stays
 * open, and close() waits for every request in flight and every accepted patch, including one whose caller went
 * away, so no cycle is cut between its read and its write.
 */
export const gracefulShutdown = fp(
  async (app: FastifyInstance, options: GracefulShutdownOptions) => {
    let draining = false
    let refusing = false
    let activeRequests = 0

    app.addHook('onRequest', (_request, reply, done) => {
      activeRequests++
      // 'close' fires once per response, whether it was sent in full or the client went away.
      reply.raw.once('close', () => activeRequests--)
      done()
    })

    const isIdle = () => activeRequests === 0 && app.sessionQueues.inFlight() === 0

    app.decorate('isDraining', () => draining)
    app.decorate('refusesNewRequests', () => refusing)
    app.decorate('gracefulClose', async (signal?: NodeJS.Signals) => {
      draining = true
      app.log.info({ signal, delayMs: options.delayMs, graceMs: options.graceMs }, 'shutting down: /readyz answers 503')
      await delay(options.delayMs)
      refusing = true
      app.log.info({ inFlight: app.sessionQueues.inFlight() }, 'shutting down: draining')
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
  done(request.server.refusesNewRequests() ? new ProxyError('E_SHUTTING_DOWN') : undefined)
}

/** A signal this soon after the first is the first delivered twice, not an operator's second one. */
const REPEAT_MS = 500

/**
 * For the server process (docs/operations.md#graceful-shutdown): SIGTERM or SIGINT drains, then exits 0, or 1 when
 * SHUTDOWN_GRACE_MS ran out first. A second signal ends the process at once, the operator's way out of a drain they do
 * not want to wait for; but one within REPEAT_MS of the first is that same signal delivered twice: a Ctrl-C or a
 * kill of the process group reaches both `npm start` and the server, and npm forwards its copy to its child.
 */
export function exitOnShutdownSignals(
  app: FastifyInstance,
  options: { onGraceRanOut?: () => Promise<void> } = {},
): void {
  const signals = ['SIGTERM', 'SIGINT'] as const
  let signalledAt: number | undefined
  const shutDown = (signal: NodeJS.Signals) => {
    if (signalledAt !== undefined) {
      if (performance.now() - signalledAt < REPEAT_MS) return
      app.log.warn({ signal, inFlight: app.sessionQueues.inFlight() }, 'second signal: exiting without finishing the drain')
      // 128 + the signal's number, as a shell reports a process a signal ended. Not by re-raising the signal: as a
      // container's PID 1 the process would ignore it.
      process.exit(128 + constants.signals[signal])
    }
    signalledAt = performance.now()
    app.gracefulClose(signal).then(
      async (drained) => {
        if (drained) app.log.info('drained and closed')
        else app.log.error({ inFlight: app.sessionQueues.inFlight() }, 'SHUTDOWN_GRACE_MS ran out before the drain finished')
        // E.g. hand back the locks of cycles cut short, so other replicas need not wait for their leases to expire.
        if (!drained) await options.onGraceRanOut?.().catch(() => {})
        process.exit(drained ? 0 : 1)
      },
      (error: unknown) => {
        app.log.error({ err: error }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  for (const signal of signals) process.on(signal, shutDown)
}
