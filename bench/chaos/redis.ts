import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { findFreePort } from '../children.ts'
import { killNow, spawnTracked, type Tracked } from './processes.ts'

// The run's own redis-server, on one port for the whole run so a restart comes back where the replicas look.
// It persists nothing: a restart loses every lock, inbox and idempotency answer, as a real one without a disk would.

const run = promisify(execFile)

export interface ChaosRedis {
  url: string
  /** SIGKILL, then a new redis-server on the same port; resolves once it accepts connections. */
  restart(): Promise<void>
  /** CLIENT PAUSE: every client's commands wait `ms`. */
  pauseClients(ms: number): Promise<void>
  /** DEBUG SLEEP: the server itself does nothing for `seconds`; resolves when it answers again. */
  sleep(seconds: number): Promise<void>
  stop(): Promise<void>
}

export async function startChaosRedis(): Promise<ChaosRedis> {
  const port = await findFreePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--enable-debug-command', 'local']
  let current: Tracked
  const start = async () => {
    current = spawnTracked('redis', 'redis-server', args, {})
    await current.waitForLine((line) => line.includes('Ready to accept connections'))
  }
  const cli = (...command: string[]) => run('redis-cli', ['-p', String(port), ...command], { timeout: 10_000 })
  await start()
  return {
    url: `redis://127.0.0.1:${port}`,
    restart: async () => {
      await killNow(current)
      await start()
    },
    pauseClients: async (ms) => void (await cli('CLIENT', 'PAUSE', String(ms))),
    sleep: async (seconds) => void (await cli('DEBUG', 'SLEEP', String(seconds))),
    stop: () => killNow(current),
  }
}
