import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { validatorCompiler } from 'fastify-type-provider-zod'
import type { Config } from './config.ts'
import type { Replica } from './composition.ts'
import type { Drainer } from './coordinator/drainer.ts'
import { systemClock, type Clock } from './deadline.ts'
import { createAuthenticator, type AuthSettings } from './http/auth.ts'
import { handleClientError } from './http/client-error.ts'
import { handleFrameworkError, registerErrorHandling } from './http/error-handler.ts'
import { registerJsonBodyParser } from './http/json-body-parser.ts'
import { collectRoutesForMethodNotAllowed } from './http/method-not-allowed.ts'
import { recordRequestDurations } from './http/request-duration.ts'
import { RequestLogController } from './http/request-log.ts'
import { serverTimeoutOptions, type ServerTimeouts } from './http/server-timeouts.ts'
import type { Metrics } from './metrics.ts'
import { registerOpenApi } from './openapi.ts'
import { createContextFactory } from './request-context.ts'
import { operationsRoutes } from './routes/operations.ts'
import { sessionRoutes } from './routes/sessions.ts'
import { gracefulShutdown, refuseWhileDraining } from './shutdown.ts'
import { noTracing, type Tracing } from './tracing/tracing.ts'

export interface AppOptions {
  config: Config
  auth: AuthSettings
  /** The write path and what replicas share, built by composeReplica (src/composition.ts). Closed by its creator. */
  replica: Replica
  metrics: Metrics
  /** What deadlines measure time with. */
  clock?: Clock
  /** The process logger (see createLogger); without it, fastify's `logger` option applies (false in tests). */
  loggerInstance?: FastifyBaseLogger
  logger?: FastifyServerOptions['logger']
  /** How long a client may take to send a request (docs/http-api.md#slow-and-malformed-clients); 10 s and 30 s by default. */
  serverTimeouts?: ServerTimeouts
  /** Request spans (see startTracing); none by default. Shut down by its creator. */
  tracing?: Tracing
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The per-session drains: how much work is in flight, for draining and for tests. */
    sessionQueues: Pick<Drainer, 'inFlight' | 'activeSessions'>
  }
}

const REQUEST_ID = /^[\w.:-]{1,128}$/

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config } = options
  const app = Fastify({
    ...(options.loggerInstance ? { loggerInstance: options.loggerInstance } : { logger: options.logger ?? false }),
    bodyLimit: config.bodyLimitBytes,
    ...serverTimeoutOptions(options.serverTimeouts),
    routerOptions: { maxParamLength: 1024 },
    // A caller's X-Request-Id is kept when it is a plain token; anything else could forge log lines.
    genReqId: (request) => {
      const header = request.headers['x-request-id']
      return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID()
    },
    frameworkErrors: handleFrameworkError,
    clientErrorHandler: handleClientError,
    logController: new RequestLogController(),
    // Draining answers E_SHUTTING_DOWN in AiFi's shape before close() is called (see shutdown.ts).
    return503OnClosing: false,
  })
  const tracing = options.tracing ?? noTracing
  // First: its request span must start before every other hook, and it must see every route.
  if (tracing.plugin) await app.register(tracing.plugin)
  app.setValidatorCompiler(validatorCompiler)
  // Response schemas document the API; validating AiFi's answers again on the way out would only cost CPU
  // (they were parsed on the way in) and could strip fields AiFi added, which must pass through.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data))

  const { metrics, replica } = options
  recordRequestDurations(app, metrics)
  const clock = options.clock ?? systemClock
  app.decorate('sessionQueues', replica.drainer)
  await app.register(gracefulShutdown, { delayMs: config.shutdownDelayMs, graceMs: config.shutdownGraceMs })
  const contexts = createContextFactory({
    requestDeadlineMs: config.requestDeadlineMs,
    lockWaitMs: config.lockWaitMs,
    clock,
    traceOf: tracing.traceOf,
    flowOf: replica.flows.of,
  })

  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
  registerJsonBodyParser(app, config.bodyLimitBytes)
  registerErrorHandling(app, (outcome) => metrics.requests.inc({ outcome }))
  const registerMethodNotAllowed = collectRoutesForMethodNotAllowed(app)
  await registerOpenApi(app, { serveUi: config.nodeEnv !== 'production' })

  // The API scope: refused while draining, before its own session-id and auth checks.
  await app.register(async (api) => {
    api.addHook('onRequest', refuseWhileDraining)
    await api.register(sessionRoutes, {
      service: replica.service,
      contexts,
      authenticate: createAuthenticator(options.auth),
      metrics,
      idempotency: replica.coordination.idempotency,
      maxDepth: config.maxDepth,
    })
  })
  await app.register(operationsRoutes, { metrics, isReady: replica.coordination.isReady, isDraining: () => app.isDraining() })
  registerMethodNotAllowed()
  return app
}
