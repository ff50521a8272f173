import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import type { TestContext } from 'node:test'
import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions } from 'fastify'
import type { Dispatcher } from 'undici'
import { buildApp } from '../src/app.ts'
import { composeReplica, createLocalCoordination, type Coordination } from '../src/composition.ts'
import { ConfigError, loadConfig, type Config } from '../src/config.ts'
import type { SessionLock } from '../src/coordinator/session-lock.ts'
import { systemClock, type Clock } from '../src/deadline.ts'
import { createLogger } from '../src/logger.ts'
import type { AuthSettings } from '../src/http/auth.ts'
import type { ServerTimeouts } from '../src/http/server-timeouts.ts'
import type { IdempotencyStore } from '../src/idempotency/idempotency-store.ts'
import { createMetrics, type Metrics } from '../src/metrics.ts'
import { createFairQuota } from '../src/quota/fair-quota.ts'
import type { FairQuotaDeps, QuotaStore } from '../src/quota/quota.ts'
import { SESSIONS_PATH } from '../src/schemas.ts'
import type { RequestLogEntry } from '../src/simulator/counters.ts'
import { startSimulator, type Simulator, type SimulatorOptions } from '../src/simulator/simulator.ts'
import { noTracing, type Tracing } from '../src/tracing/tracing.ts'

export const CALLER_SECRET = 'test-secret:with-colon'
export const CALLER_AUTH = `Bearer ${CALLER_SECRET}`
export const SESSIONS = SESSIONS_PATH

export interface TestAppOptions {
  env?: Record<string, string>
  simulator?: Simulator
  simulatorOptions?: SimulatorOptions
  auth?: 'service' | 'forward'
  /** What the app shares with other replicas (see cluster-helper.ts); this process's own memory by default. */
  coordination?: Coordination
  /** Replaces the coordination's lock, e.g. with one that misbehaves. */
  lock?: SessionLock
  /** Replaces the coordination's quota with this process's scheduler over this store. */
  quota?: QuotaStore
  /** Replaces the coordination's Idempotency-Key store. */
  idempotency?: IdempotencyStore
  metrics?: Metrics
  logger?: FastifyServerOptions['logger']
  /** A logger writing to a stream the test reads (see createLogger). */
  loggerInstance?: FastifyBaseLogger
  /** Short client timeouts for slow-client tests; the documented values otherwise. */
  serverTimeouts?: ServerTimeouts
  dispatcher?: Dispatcher
  clock?: Clock
  /** Spans to an exporter the test reads (see test/tracing-helper.ts). */
  tracing?: Tracing
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
  const coordination: Coordination = {
    ...(options.coordination ?? createLocalCoordination(config)),
    ...(options.lock ? { lock: options.lock, isReady: () => options.lock!.isReady() } : {}),
    ...(options.quota ? { quota: (deps: FairQuotaDeps) => createFairQuota(options.quota!, deps) } : {}),
    ...(options.idempotency ? { idempotency: options.idempotency } : {}),
  }
  const metrics = options.metrics ?? createMetrics()
  const tracing = options.tracing ?? noTracing
  // The same composition root as src/server.ts.
  const replica = composeReplica(config, {
    aifiBaseUrl: simulator.url,
    auth,
    coordination,
    metrics,
    tracing,
    clock: options.clock ?? systemClock,
    logger: options.loggerInstance ?? createLogger({ logLevel: 'silent' }),
    dispatcher: options.dispatcher,
  })
  const app = await buildApp({
    config,
    auth,
    replica,
    metrics,
    serverTimeouts: options.serverTimeouts,
    clock: options.clock,
    tracing,
    ...(options.loggerInstance ? { loggerInstance: options.loggerInstance } : { logger: options.logger ?? false }),
  })
  app.addHook('onClose', async () => {
    await replica.close()
    if (options.metrics === undefined) metrics.close()
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

// Checks the hostile-input tests share: the documented error shape, and what reached "AiFi".

export interface Answer {
  statusCode: number
  body: string
  headers: Record<string, unknown>
}

/** Exactly `{message, type, errors, requestId}`, with `errors` an array of `{error, rule, field}` (docs/http-api.md#errors). */
export function assertErrorShape(answer: Answer, context = ''): Record<string, unknown> {
  const body = JSON.parse(answer.body) as Record<string, unknown>
  assert.deepEqual(Object.keys(body).sort(), ['errors', 'message', 'requestId', 'type'], context)
  assert.equal(typeof body.message, 'string', context)
  assert.match(String(body.type), /^E_[A-Z_]+$/, context)
  assert.equal(typeof body.requestId, 'string', context)
  assert.notEqual(body.requestId, '', context)
  assert.ok(Array.isArray(body.errors), context)
  for (const item of body.errors as unknown[]) {
    assert.deepEqual(Object.keys(item as object).sort(), ['error', 'field', 'rule'], context)
    for (const value of Object.values(item as object)) assert.equal(typeof value, 'string', context)
  }
  return body
}

/** Runs `send` against a fresh simulator log and returns the upstream calls it caused. */
export async function callsDuring<T>(simulator: Simulator, send: () => Promise<T>): Promise<[T, RequestLogEntry[]]> {
  simulator.resetCounters()
  const result = await send()
  return [result, simulator.counters().log]
}

/**
 * No session id can reach another upstream path or query: every call is the list read with exactly
 * `sessionToken` and `count`, or a PATCH of one encoded path segment under the sessions path.
 */
export function assertUpstreamCallsConfined(calls: RequestLogEntry[], context = ''): void {
  for (const call of calls) {
    const url = new URL(call.url, 'http://upstream')
    if (call.method === 'GET') {
      assert.equal(url.pathname, '/api/admin/v2/sessions', context)
      assert.deepEqual([...url.searchParams.keys()].sort(), ['count', 'sessionToken'], context)
    } else {
      assert.equal(call.method, 'PATCH', context)
      assert.match(url.pathname, /^\/api\/admin\/v2\/sessions\/[^/]+$/, context)
      assert.equal(url.search, '', context)
    }
  }
}

/** Every own property of the built-in prototypes input could reach, with its descriptor. */
export function snapshotPrototypes(): string {
  const prototypes = { Object: Object.prototype, Array: Array.prototype, Function: Function.prototype, String: String.prototype }
  return JSON.stringify(
    Object.entries(prototypes).map(([name, prototype]) => [
      name,
      Object.getPrototypeOf(prototype) === null ? 'null' : 'linked',
      Reflect.ownKeys(prototype).map((key) => {
        const descriptor = Object.getOwnPropertyDescriptor(prototype, key)!
        return [String(key), typeof descriptor.value, descriptor.writable, descriptor.enumerable, Boolean(descriptor.get)]
      }),
    ]),
  )
}

/** A logger, at its most verbose unless told, whose lines the test reads back. */
export function captureLogs(logLevel: Config['logLevel'] = 'trace') {
  const lines: string[] = []
  const sink = new Writable({ write: (chunk, _encoding, next) => (lines.push(String(chunk)), next()) })
  const entries = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>)
  return { logger: createLogger({ logLevel }, sink), lines, entries }
}

/** The message loadConfig refuses `env` with; fails the test if it is accepted. */
export function configRefusal(env: Record<string, string>): string {
  try {
    loadConfig(env)
  } catch (error) {
    assert.ok(error instanceof ConfigError)
    return error.message
  }
  assert.fail('expected the configuration to be refused')
}
