import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { TestContext } from 'node:test'
import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions } from 'fastify'
import type { Dispatcher } from 'undici'
import type { RateLimiter } from '../src/aifi/rate-limiter.ts'
import { buildApp } from '../src/app.ts'
import { loadConfig, type Config } from '../src/config.ts'
import type { SessionLock } from '../src/coordinator/session-lock.ts'
import type { Clock } from '../src/deadline.ts'
import type { AuthSettings } from '../src/http/auth.ts'
import type { ServerTimeouts } from '../src/http/server-timeouts.ts'
import type { IdempotencyStore } from '../src/idempotency/idempotency-store.ts'
import type { Metrics } from '../src/metrics.ts'
import { SESSIONS_PATH } from '../src/schemas.ts'
import { startSimulator, type Simulator, type SimulatorOptions } from '../src/simulator/simulator.ts'

export const CALLER_SECRET = 'test-secret:with-colon'
export const CALLER_AUTH = `Bearer ${CALLER_SECRET}`
export const SESSIONS = SESSIONS_PATH

export interface TestAppOptions {
  env?: Record<string, string>
  simulator?: Simulator
  simulatorOptions?: SimulatorOptions
  auth?: 'service' | 'forward'
  lock?: SessionLock
  idempotency?: IdempotencyStore
  limiter?: RateLimiter
  metrics?: Metrics
  logger?: FastifyServerOptions['logger']
  /** A logger writing to a stream the test reads (see createLogger). */
  loggerInstance?: FastifyBaseLogger
  /** Short client timeouts for slow-client tests; the documented values otherwise. */
  serverTimeouts?: ServerTimeouts
  dispatcher?: Dispatcher
  clock?: Clock
}

export interface TestApp {
  app: FastifyInstance
  simulator: Simulator
  config: Config
}

/** The real app against a fresh simulator on a real socket, closed when the test ends. */
export async function startTestApp(t: TestContext, options: TestAppOptions = {}): Promise<TestApp> {
  const simulator = options.simulator ?? (await startSimulator({ port: 0, ...options.simulatorOptions }))
  const forward = options.auth === 'forward'
  const config = loadConfig({
    AIFI_BASE_URL: simulator.url,
    ...(forward ? {} : { AIFI_API_TOKEN: simulator.token, PROXY_API_KEYS: `tester:${CALLER_SECRET},other:second-key` }),
    LOG_LEVEL: 'silent',
    ...options.env,
  })
  const auth: AuthSettings = forward
    ? { mode: 'forward' }
    : { mode: 'service', callerKeys: config.callerKeys!, upstreamToken: config.aifiApiToken! }
  const app = await buildApp({
    config,
    aifiBaseUrl: simulator.url,
    auth,
    lock: options.lock,
    idempotency: options.idempotency,
    limiter: options.limiter,
    metrics: options.metrics,
    serverTimeouts: options.serverTimeouts,
    dispatcher: options.dispatcher,
    clock: options.clock,
    ...(options.loggerInstance ? { loggerInstance: options.loggerInstance } : { logger: options.logger ?? false }),
  })
  t.after(async () => {
    await app.close()
    if (options.simulator === undefined) await simulator.close()
  })
  return { app, simulator, config }
}

/** A PATCH through the proxy with the test caller's key, unless headers say otherwise. */
export function patchSession(
  app: FastifyInstance,
  sessionId: string,
  body: unknown,
  options: { headers?: Record<string, string>; query?: string } = {},
) {
  return app.inject({
    method: 'PATCH',
    url: `${SESSIONS}/${encodeURIComponent(sessionId)}${options.query ?? ''}`,
    headers: { authorization: CALLER_AUTH, 'content-type': 'application/json', ...options.headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

export function getSession(app: FastifyInstance, sessionId: string, headers: Record<string, string> = {}) {
  return app.inject({
    method: 'GET',
    url: `${SESSIONS}/${encodeURIComponent(sessionId)}`,
    headers: { authorization: CALLER_AUTH, ...headers },
  })
}

/** Upstream calls of one kind seen by the simulator, e.g. `PATCH` writes. */
export function upstreamCalls(simulator: Simulator, method: 'GET' | 'PATCH'): number {
  return Object.entries(simulator.counters().requests)
    .filter(([key]) => key.startsWith(`${method} `))
    .reduce((sum, [, count]) => sum + count, 0)
}

/** Listens on an ephemeral loopback port (closed with the app) and returns it. */
export async function listenOnFreePort(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as AddressInfo).port
}

/** A request whose path goes on the wire exactly as written: no client-side normalization of `.` or `%`. */
export function rawRequest(
  port: number,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, method, path, headers: options.headers }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }))
    })
    request.on('error', reject)
    request.end(options.body)
  })
}

/**
 * Resolves once `condition()` holds, looking again every millisecond: for state that emits no event (the
 * simulator's counters, a process's port). The test's own timeout bounds the wait.
 */
export async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 1))
}
