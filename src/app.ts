import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { validatorCompiler } from 'fastify-type-provider-zod'
import type { Dispatcher } from 'undici'
import { createAifiClient } from './aifi/aifi-client.ts'
import { createRateLimiter, type RateLimiter } from './aifi/rate-limiter.ts'
import { defaultRetryPolicy } from './aifi/retry.ts'
import { createUpstream } from './aifi/upstream.ts'
import type { Config } from './config.ts'
import { createMergeCycle } from './coordinator/merge-cycle.ts'
import { createLocalLock, type SessionLock } from './coordinator/session-lock.ts'
import { createSessionQueues, type PatchQueue } from './coordinator/session-queues.ts'
import { createSessionService } from './coordinator/session-service.ts'
import { systemClock, type Clock } from './deadline.ts'
import { createAuthenticator, type AuthSettings } from './http/auth.ts'
import { handleClientError } from './http/client-error.ts'
import { handleFrameworkError, registerErrorHandling } from './http/error-handler.ts'
import { registerJsonBodyParser } from './http/json-body-parser.ts'
import { collectRoutesForMethodNotAllowed } from './http/method-not-allowed.ts'
import { recordRequestDurations } from './http/request-duration.ts'
import { RequestLogController } from './http/request-log.ts'
import { serverTimeoutOptions, type ServerTimeouts } from './http/server-timeouts.ts'
import type { IdempotencyStore } from './idempotency/idempotency-store.ts'
import { createMemoryIdempotencyStore } from './idempotency/memory-store.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { registerOpenApi } from './openapi.ts'
import { createContextFactory } from './request-context.ts'
import type { SharedInboxFactory } from './redis/shared-inbox.ts'
import { operationsRoutes } from './routes/operations.ts'
import { sessionRoutes } from './routes/sessions.ts'
import { gracefulShutdown, refuseWhileDraining } from './shutdown.ts'
import { noTracing, type Tracing } from './tracing/tracing.ts'

export interface AppOptions {
  config: Config
  /** Where AiFi is: the configured origin, or the embedded simulator's. */
  aifiBaseUrl: string
  auth: AuthSettings
  /** Cross-replica lock; by default none is needed beyond the in-process queue. Closed by its creator. */
  lock?: SessionLock
  /** The outbound quota to AiFi; this process's own by default, the cluster's in Redis when REDIS_URL is set. */
  limiter?: RateLimiter
  /** One queue per session across replicas (src/redis/shared-inbox.ts), used in service mode; without it, each process queues its own. */
  sharedInbox?: SharedInboxFactory
  /** Where Idempotency-Key answers are kept; in memory by default, in Redis when REDIS_URL is set. */
  idempotency?: IdempotencyStore
  metrics?: Metrics
  /** How AiFi is reached: by default the AiFi client owns one undici Pool for the origin (closed with the app). */
  dispatcher?: Dispatcher
  /** What deadlines, lock waits and backoffs measure time with. */
  clock?: Clock
  /** The process logger (see createLogger); without it, fastify's `logger` option applies (false in tests). */
  loggerInstance?: FastifyBaseLogger
  logger?: FastifyServerOptions['logger']
  /** How long a client may take to send a request (docs/http-api.md#slow-and-malformed-clients); 10 s and 30 s by default. */
  serverTimeouts?: ServerTimeouts
  /** Spans for requests, cycles and AiFi calls (see startTracing); none by default. Shut down by its creator. */
  tracing?: Tracing
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The per-session write queues: how much work is in flight, for draining and for tests. */
    sessionQueues: PatchQueue
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

  const metrics = options.metrics ?? createMetrics()
  if (options.metrics === undefined) app.addHook('onClose', async () => metrics.close())
  recordRequestDurations(app, metrics)
  const lock = options.lock ?? createLocalLock()
  const clock = options.clock ?? systemClock
  const client = createAifiClient({
    baseUrl: options.aifiBaseUrl,
    timeoutMs: config.upstreamTimeoutMs,
    dispatcher: options.dispatcher,
    tracing,
    onAttempt: (op, status, seconds) => {
      metrics.upstreamRequests.inc({ op, status })
      metrics.upstreamDuration.observe({ op }, seconds)
    },
  })
  app.addHook('onClose', () => client.close())

  const retryPolicy = defaultRetryPolicy(config.upstreamRetries)
  const upstream = createUpstream({
    client,
    limiter: options.limiter ?? createRateLimiter(config.aifiMaxRps),
    retryPolicy,
    authMode: options.auth.mode,
    metrics,
  })
  const cycle = createMergeCycle({ upstream, lock, logger: app.log, metrics, retryPolicy, clock, tracing })
  // Forward mode coalesces within a process only: a caller's token, which authorizes its write, never goes to Redis.
  const queues =
    options.sharedInbox !== undefined && options.auth.mode === 'service'
      ? options.sharedInbox({ runTaken: cycle.runTaken, reserveCycle: upstream.reserveCycle, maxBatch: config.maxBatch })
      : createSessionQueues({ maxBatch: config.maxBatch, runBatch: cycle.runBatch })
  app.decorate('sessionQueues', queues)
  await app.register(gracefulShutdown, { delayMs: config.shutdownDelayMs, graceMs: config.shutdownGraceMs })
  const service = createSessionService({ upstream, queues })
  const contexts = createContextFactory({ requestDeadlineMs: config.requestDeadlineMs, lockWaitMs: config.lockWaitMs, clock, tracing })

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
      service,
      contexts,
      authenticate: createAuthenticator(options.auth),
      metrics,
      idempotency: options.idempotency ?? createMemoryIdempotencyStore(config.idempotencyBounds),
      maxDepth: config.maxDepth,
    })
  })
  await app.register(operationsRoutes, { metrics, lock, isDraining: () => app.isDraining() })
  registerMethodNotAllowed()
  return app
}
