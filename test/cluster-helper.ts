import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import { createInterface } from 'node:readline'
import type { TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createClient, type RedisClientType } from 'redis'
import { loadConfig } from '../src/config.ts'
import { createLogger } from '../src/logger.ts'
import { createMetrics } from '../src/metrics.ts'
import { createRedisCoordination as createRedisCoordinationIn } from '../src/redis/redis-coordination.ts'
import { sessionTag } from '../src/redis/redis-keys.ts'
import type { JsonObject } from '../src/schemas.ts'
import { startSimulator, type Simulator } from '../src/simulator/simulator.ts'
import { CALLER_AUTH, CALLER_SECRET, SESSIONS } from './helper.ts'

// What tests of several replicas need: Redis (the shared one, or one of the test's own), and the proxy as a process.

export const REDIS_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379'
const REPO = fileURLToPath(new URL('..', import.meta.url))

/**
 * A connected client to the test Redis, closed with the test. Without a Redis the test is skipped locally, but
 * fails in CI (CI=true), where .ci/run has started one: a missing Redis must never pass as green.
 */
export async function connectTestRedis(t: TestContext): Promise<RedisClientType | undefined> {
  const client: RedisClientType = createClient({ url: REDIS_URL, socket: { reconnectStrategy: false, connectTimeout: 2_000 } })
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (error) {
    if (process.env.CI === 'true') throw new Error(`Redis is required in CI at ${REDIS_URL}`, { cause: error })
    t.skip(`no Redis at ${REDIS_URL}`)
    return undefined
  }
  t.after(() => client.close())
  return client
}

/** The test Redis and a simulator of the test's own; undefined when there is no Redis (the test is skipped). */
export async function redisAndSimulator(t: TestContext) {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return undefined
  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  return { redis, simulator }
}

/** A second connection to the same Redis, closed with the test: for pausing Redis, or dropping a connection. */
export async function connectSecondClient(t: TestContext, client: RedisClientType): Promise<RedisClientType> {
  const second = client.duplicate()
  second.on('error', () => {})
  await second.connect()
  t.after(async () => {
    if (second.isOpen) await second.close()
  })
  return second
}

/**
 * What replicas share in Redis, built by the production function (src/redis/redis-coordination.ts) on the test's
 * Redis, under a key prefix of the test's own so tests never see each other's keys. Every app started with it
 * is a replica with an inbox of its own, named `replica-1`, `replica-2`, …; `listening()` resolves once they all
 * hear their settlements. The quota's rate is AIFI_MAX_RPS for every app that shares it (`maxRps`, default 20).
 */
export async function createRedisCoordination(
  t: TestContext,
  client: RedisClientType,
  options: { ttlMs?: number; prefix?: string; maxRps?: number; subscriber?: RedisClientType; replicaName?: string } = {},
) {
  const prefix = options.prefix ?? `test:${randomUUID()}:`
  const subscriber = options.subscriber ?? (await connectSecondClient(t, client))
  const config = loadConfig({ LOG_LEVEL: 'silent', LOCK_TTL_MS: String(options.ttlMs ?? 30_000), AIFI_MAX_RPS: String(options.maxRps ?? 20) })
  const metrics = createMetrics()
  let replicas = 0
  const coordination = createRedisCoordinationIn(config, { client, subscriber }, {
    logger: createLogger({ logLevel: 'silent' }),
    metrics,
    aifiOrigin: 'http://aifi.test',
    keyPrefix: prefix,
    nameReplica: () => options.replicaName ?? `replica-${++replicas}`,
  })
  t.after(async () => {
    await coordination.close()
    metrics.close()
  })
  return Object.assign(coordination, {
    prefix,
    lockKey: (sessionId: string) => `${prefix}lock:${sessionTag(sessionId)}`,
    queueKey: (sessionId: string) => `${prefix}inbox:${sessionTag(sessionId)}:queue`,
  })
}

export const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

/** A redis-server of the test's own on `port`; resolves once it answers PING. Killed, if still running, with the test. */
export async function startRedisServer(t: TestContext, port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const exited = once(child, 'exit')
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  const probe = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: () => 5 } })
  probe.on('error', () => {})
  await probe.connect()
  await probe.ping()
  await probe.close()
  return child
}

export interface ServerProcess {
  port: number
  /** The pid of the process started (npm's own when the command is `npm start`). */
  pid: number
  /** The pid the server's log lines carry: the process that listens. */
  serverPid: number
  /** Every stdout line parsed as a pino JSON line (other lines, such as a banner, are skipped). */
  logs: Array<Record<string, unknown>>
  /** Resolves with the first log line, already seen or still to come, that `matches` accepts. */
  waitForLog(matches: (entry: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>
  kill(signal: NodeJS.Signals): void
  /** Resolves when the process has exited, with its exit code (null when a signal ended it). */
  exited: Promise<number | null>
  /** The signal that ended the process, once `exited` has resolved. */
  signalCode(): NodeJS.Signals | null
}

const LISTENING = /^Server listening at http:\/\/127\.0\.0\.1:(\d+)$/

/**
 * Starts the proxy as its own process (`node <args>` in `cwd`, or `command` with `args`) with exactly `env`, on
 * PORT=0 and, unless `env` says otherwise, HOST=127.0.0.1, and resolves once it listens, with the port read from
 * fastify's "Server listening at" log line. `detached` gives it a process group of its own, as a terminal would.
 * Whatever still runs when the test ends is killed: the process (its group when detached) and the server.
 */
export async function startServerProcess(
  t: TestContext,
  options: { command?: string; args: string[]; cwd: string; env: Record<string, string>; detached?: boolean },
): Promise<ServerProcess> {
  const child = spawn(options.command ?? process.execPath, options.args, {
    cwd: options.cwd,
    env: { HOST: '127.0.0.1', ...options.env, PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  const logs: Array<Record<string, unknown>> = []
  t.after(async () => {
    const pids = new Set(logs.map((entry) => entry.pid).filter((pid): pid is number => typeof pid === 'number'))
    if (child.exitCode === null && child.signalCode === null) {
      if (options.detached) process.kill(-child.pid!, 'SIGKILL')
      else child.kill('SIGKILL')
    }
    await exited
    for (const pid of pids) if (isRunning(pid)) process.kill(pid, 'SIGKILL')
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))

  const waiters: Array<{ matches: (entry: Record<string, unknown>) => boolean; resolve: (entry: Record<string, unknown>) => void }> = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith('{')) return
    const entry = JSON.parse(line) as Record<string, unknown>
    logs.push(entry)
    for (const waiter of waiters.filter((w) => w.matches(entry))) {
      waiters.splice(waiters.indexOf(waiter), 1)
      waiter.resolve(entry)
    }
  })
  const waitForLog = (matches: (entry: Record<string, unknown>) => boolean) => {
    const seen = logs.find(matches)
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise<Record<string, unknown>>((resolve) => waiters.push({ matches, resolve }))
  }

  const listening = waitForLog((entry) => LISTENING.test(String(entry.msg)))
  const startup = await Promise.race([listening, exited.then((code) => ({ exitedWith: code }))])
  if ('exitedWith' in startup) throw new Error(`the server exited with ${startup.exitedWith} before listening:\n${stderr}`)
  const port = Number(LISTENING.exec(String(startup.msg))![1])
  return {
    port,
    pid: child.pid!,
    serverPid: startup.pid as number,
    logs,
    waitForLog,
    kill: (signal) => child.kill(signal),
    exited,
    signalCode: () => child.signalCode,
  }
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Resolves true when a TCP connection to the port on 127.0.0.1 is refused: nothing listens there. */
export function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'))
  })
}

/** A replica as its own process (`src/server.ts`), on the shared Redis and the test's simulator, in service mode. */
export function startReplicaProcess(t: TestContext, simulator: Simulator, env: Record<string, string>): Promise<ServerProcess> {
  return startServerProcess(t, {
    args: ['--import', 'tsx', 'src/server.ts'],
    cwd: REPO,
    env: {
      PATH: process.env.PATH ?? '',
      AIFI_BASE_URL: simulator.url,
      AIFI_API_TOKEN: simulator.token,
      PROXY_API_KEYS: `tester:${CALLER_SECRET}`,
      REDIS_URL,
      ...env,
    },
  })
}

/** Sends a PATCH to a replica process and ignores how it ends: the replica may be killed while it waits. */
export function patchOverHttp(port: number, id: string, metadata: JsonObject): void {
  fetch(`http://127.0.0.1:${port}${SESSIONS}/${id}`, {
    method: 'PATCH',
    headers: { authorization: CALLER_AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ metadata }),
  }).then(
    (response) => response.body?.cancel(),
    () => {},
  )
}
