import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import { createInterface } from 'node:readline'
import type { TestContext } from 'node:test'

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
