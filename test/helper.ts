import type { TestContext } from 'node:test'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { buildApp } from '../src/app.ts'
import { loadConfig, type Config } from '../src/config.ts'
import type { SessionLock } from '../src/coordinator/session-lock.ts'
import type { AuthSettings } from '../src/http/auth.ts'
import { startSimulator, type Simulator, type SimulatorOptions } from '../src/simulator/simulator.ts'

export const CALLER_SECRET = 'test-secret:with-colon'
export const CALLER_AUTH = `Bearer ${CALLER_SECRET}`
export const SESSIONS = '/api/admin/v2/sessions'

export interface TestAppOptions {
  env?: Record<string, string>
  simulator?: Simulator
  simulatorOptions?: SimulatorOptions
  auth?: 'service' | 'forward'
  lock?: SessionLock
  logger?: FastifyServerOptions['logger']
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
  const app = await buildApp({ config, aifiBaseUrl: simulator.url, auth, lock: options.lock, logger: options.logger ?? false })
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
