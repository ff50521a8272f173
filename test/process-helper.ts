import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import type { TestContext } from 'node:test'

export interface ServerProcess {
  port: number
  /** Every stdout line parsed as a pino JSON line (other lines, such as a banner, are skipped). */
  logs: Array<Record<string, unknown>>
  /** Resolves with the first log line, already seen or still to come, that `matches` accepts. */
  waitForLog(matches: (entry: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>
  kill(signal: NodeJS.Signals): void
  /** Resolves when the process has exited, with its exit code (null when a signal ended it). */
  exited: Promise<number | null>
}

const LISTENING = /^Server listening at http:\/\/127\.0\.0\.1:(\d+)$/

/**
 * Starts the proxy as its own process (`node <args>` in `cwd`) with exactly `env`, on HOST=127.0.0.1 and PORT=0,
 * and resolves once it listens, with the port read from fastify's "Server listening at" log line. Killed, if
 * still running, when the test ends.
 */
export async function startServerProcess(
  t: TestContext,
  options: { args: string[]; cwd: string; env: Record<string, string> },
): Promise<ServerProcess> {
  const child = spawn(process.execPath, options.args, {
    cwd: options.cwd,
    env: { ...options.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))

  const logs: Array<Record<string, unknown>> = []
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
  return { port, logs, waitForLog, kill: (signal) => child.kill(signal), exited }
}
