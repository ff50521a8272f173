import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

// Every process a chaos run starts, tracked from its spawn by pid, so that the end of the run, an error or
// Ctrl-C still kills them all. Nothing here knows what a process is for.

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const running = new Set<ChildProcess>()

process.on('exit', killAllNow)

export interface Tracked {
  child: ChildProcess
  name: string
  /** Resolves when the process has exited. */
  exited: Promise<void>
  /** Resolves with the first stdout line `matches` accepts; rejects if the process exits first. */
  waitForLine(matches: (line: string) => boolean, timeoutMs?: number): Promise<string>
  /** Lines of stderr, kept for the message when a start fails. */
  stderr(): string
}

/** Spawns `command` in the repository's root, with exactly `env` (plus PATH); `onLine` sees each stdout line. */
export function spawnTracked(name: string, command: string, args: string[], env: Record<string, string>, onLine?: (line: string) => void): Tracked {
  const child = spawn(command, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve())
    child.once('error', () => resolve())
  }).then(() => void running.delete(child))
  const waiters: Array<{ matches: (line: string) => boolean; resolve: (line: string) => void }> = []
  createInterface({ input: child.stdout! }).on('line', (line) => {
    onLine?.(line)
    for (const waiter of waiters.filter((w) => w.matches(line))) {
      waiters.splice(waiters.indexOf(waiter), 1)
      waiter.resolve(line)
    }
  })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4_000)))

  const waitForLine = (matches: (line: string) => boolean, timeoutMs = 30_000) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: not ready within ${timeoutMs} ms\n${stderr}`)), timeoutMs)
      const settle = (line: string) => {
        clearTimeout(timer)
        resolve(line)
      }
      waiters.push({ matches, resolve: settle })
      void exited.then(() => {
        clearTimeout(timer)
        reject(new Error(`${name} exited (${child.signalCode ?? child.exitCode}) before it was ready\n${stderr}`))
      })
    })
  return { child, name, exited, waitForLine, stderr: () => stderr }
}

/** SIGKILL, and resolves once the process is gone. */
export async function killNow(tracked: Tracked): Promise<void> {
  if (tracked.child.exitCode === null && tracked.child.signalCode === null) tracked.child.kill('SIGKILL')
  await tracked.exited
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function stopGently(tracked: Tracked, graceMs: number): Promise<void> {
  if (tracked.child.exitCode !== null || tracked.child.signalCode !== null) return
  tracked.child.kill('SIGTERM')
  const timer = setTimeout(() => tracked.child.kill('SIGKILL'), graceMs)
  await tracked.exited
  clearTimeout(timer)
}

/** Synchronous, for process exit: every child still running gets SIGKILL. */
export function killAllNow(): void {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
}

export function runningCount(): number {
  return running.size
}
