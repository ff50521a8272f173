import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import type { LoadResult, LoadSpec } from './load-spec.ts'
import { readImageCommand } from '../scripts/image-command.ts'

// Every process of a run: the simulator, the proxies, the load generators and the replicas' redis-server.
// Each is tracked from its spawn, so a failure, a timeout or Ctrl-C anywhere still ends them all.

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const running = new Set<ChildProcess>()

process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/** A plain `node` child (never an npm or tsx wrapper), so its pid is the process whose memory is measured. */
function spawnNode(name: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawnTracked(name, process.execPath, args, env)
}

function spawnTracked(name: string, command: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  child.once('exit', () => running.delete(child))
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(prefixLines(name, chunk)))
  return child
}

function prefixLines(name: string, chunk: Buffer): string {
  return chunk.toString('utf8').replace(/^(?=.)/gm, `[${name}] `)
}

/** A timeout that never holds the process open by itself. */
const unrefSleep = (ms: number) => sleep(ms, undefined, { ref: false })

/** Ends a child: SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stop(child: ChildProcess, graceMs = 3_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  if ((await Promise.race([exited.then(() => true), unrefSleep(graceMs).then(() => false)])) === false) {
    child.kill('SIGKILL')
    await exited
  }
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((child) => stop(child)))
}

/** A port the OS just handed out on loopback. The proxy is told it through PORT, since it logs nothing at warn. */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

/** Rejects if the child exits first or the wait exceeds `timeoutMs`. */
async function waitFor<T>(child: ChildProcess, what: string, ready: Promise<T>, timeoutMs = 20_000): Promise<T> {
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`${what} exited (${signal ?? code}) before it was ready`)))
    // A command that is not installed never starts, so it never exits either.
    child.once('error', (error) => reject(new Error(`${what} could not be started: ${error.message}`)))
  })
  const timedOut = unrefSleep(timeoutMs).then(() => {
    throw new Error(`${what} was not ready within ${timeoutMs} ms`)
  })
  return Promise.race([ready, exited, timedOut])
}

export interface SimulatorProcess {
  child: ChildProcess
  url: string
  token: string
}

/** The simulator CLI on a port the OS picks; its URL is read from the line it prints once listening. */
export async function startSimulatorProcess(dist: string, token: string): Promise<SimulatorProcess> {
  const args = [join(dist, 'simulator/main.js'), '--port', '0', '--host', '127.0.0.1', '--token', token]
  const child = spawnNode('simulator', args)
  const listening = new Promise<string>((resolve) => {
    let seen = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString('utf8')
      const url = /listening on (http:\/\/\S+)/.exec(seen)?.[1]
      if (url) resolve(url)
    })
  })
  return { child, url: await waitFor(child, 'the simulator', listening), token }
}

export interface RedisServerProcess {
  child: ChildProcess
  /** `redis://127.0.0.1:<port>`, with no database: a sub-run appends `/<n>` for a key space of its own. */
  url: string
}

/**
 * A redis-server of the run's own on a free port, persisting nothing, so the benchmark never touches another
 * Redis on the machine (the tests' on 6379 above all). Ready once it says so on stdout.
 */
export async function startRedisServer(): Promise<RedisServerProcess> {
  const port = await findFreePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  const child = spawnTracked('redis', 'redis-server', args)
  const ready = new Promise<void>((resolve) => {
    let seen = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString('utf8')
      if (seen.includes('Ready to accept connections')) resolve()
    })
  })
  await waitFor(child, 'redis-server', ready)
  return { child, url: `redis://127.0.0.1:${port}` }
}

export interface ProxyProcess {
  child: ChildProcess
  url: string
}

/** A proxy process on the run's simulator and caller key, with `env` added to its environment. */
export type StartProxy = (env?: Record<string, string>) => Promise<ProxyProcess>

/**
 * The real entry point (src/server.ts, compiled), started with the image's node flags (the Dockerfile's CMD) and
 * configured through its environment like a deployment.
 */
export async function startProxyProcess(dist: string, env: Record<string, string>): Promise<ProxyProcess> {
  const port = await findFreePort()
  const [, ...imageArgs] = await readImageCommand()
  const args = imageArgs.map((arg) => (arg === 'dist/server.js' ? join(dist, 'server.js') : arg))
  const child = spawnNode('proxy', args, { ...env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' })
  child.stdout!.on('data', (chunk: Buffer) => process.stderr.write(prefixLines('proxy', chunk)))
  const url = `http://127.0.0.1:${port}`
  await waitFor(child, 'the proxy', pollHealthz(url))
  return { child, url }
}

/** bench/bare-refuser.ts: what answering a flood at once costs this machine before the proxy does anything. */
export async function startBareRefuser(): Promise<ProxyProcess> {
  const port = await findFreePort()
  const child = spawnNode('bare', ['--import', 'tsx', 'bench/bare-refuser.ts', String(port)])
  const url = `http://127.0.0.1:${port}`
  await waitFor(child, 'the bare refuser', pollHealthz(url))
  return { child, url }
}

async function pollHealthz(url: string): Promise<void> {
  for (;;) {
    const healthy = await fetch(`${url}/healthz`).then((response) => response.ok, () => false)
    if (healthy) return
    await sleep(50)
  }
}

/** The child's peak resident set (VmHWM, Linux), in MB; read before it is stopped. */
export function peakRssMb(child: ChildProcess): number | undefined {
  try {
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1]
    return kb === undefined ? undefined : Number(kb) / 1024
  } catch {
    return undefined
  }
}

/** CPU time (user + system) a child has used so far, in ms: Linux /proc, at 100 ticks a second. */
export function cpuTimeMs(child: ChildProcess): number {
  const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** One load-generator run in its own process; resolves with what it measured. */
export function runLoad(spec: LoadSpec, timeoutMs = 90_000): Promise<LoadResult> {
  return runJsonChild<LoadResult>('load', ['--import', 'tsx', 'bench/load.ts', JSON.stringify(spec)], timeoutMs)
}

/** The node flags of the image's CMD (the Dockerfile's), for a child that runs the proxy's code in-process. */
export async function imageNodeFlags(): Promise<string[]> {
  return (await readImageCommand()).slice(1).filter((arg) => arg.startsWith('--'))
}

/** A node child that measures something and prints it as JSON on stdout; resolves with that JSON. */
export async function runJsonChild<T>(name: string, args: string[], timeoutMs: number): Promise<T> {
  const child = spawnNode(name, args)
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  const finished = new Promise<void>((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the ${name} child exited with ${code}`)))),
  )
  const timedOut = unrefSleep(timeoutMs).then(() => {
    throw new Error(`the ${name} child did not finish within ${timeoutMs} ms`)
  })
  try {
    await Promise.race([finished, timedOut])
  } finally {
    await stop(child)
  }
  return JSON.parse(output) as T
}
