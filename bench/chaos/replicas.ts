import { killNow, spawnTracked, stopGently, type Tracked } from './processes.ts'

// Three replicas of the proxy (src/server.ts) on the run's Redis and simulator. The balancer picks the live ones
// round robin; a replica the run kills leaves the rotation first, and one that exits on its own is a finding.

const LISTENING = /^Server listening at http:\/\/127\.0\.0\.1:(\d+)$/

export interface Replica {
  /** 1, 2, 3, then 4 for the first one started in place of a killed one, and so on. */
  serial: number
  port: number
  process: Tracked
  killedByRun: boolean
  /** Log lines at error level or above. */
  errorLines: number
}

/** Error-level log messages of every replica of the run, with how often each came. */
export const errorMessages = new Map<string, number>()

function countErrorLine(replica: Replica, line: string): void {
  if (!line.startsWith('{')) return
  const entry = JSON.parse(line) as { level?: number; msg?: unknown }
  if (!(Number(entry.level) >= 50)) return
  replica.errorLines += 1
  const message = String(entry.msg)
  errorMessages.set(message, (errorMessages.get(message) ?? 0) + 1)
}

export interface ReplicaPool {
  /** The next live replica, round robin; undefined while none is live. */
  pick(): Replica | undefined
  /** SIGKILLs one live replica (the oldest) and starts another in its place. */
  killOne(): Promise<{ killed: number; started: number }>
  all(): Replica[]
  /** Replicas that exited without the run killing them. */
  crashed(): Replica[]
  stopAll(): Promise<void>
}

export async function startReplicaPool(count: number, env: Record<string, string>): Promise<ReplicaPool> {
  const replicas: Replica[] = []
  let live: Replica[] = []
  let serials = 0
  let next = 0

  async function startOne(): Promise<Replica> {
    const serial = ++serials
    const replica: Replica = { serial, port: 0, process: undefined as unknown as Tracked, killedByRun: false, errorLines: 0 }
    replica.process = spawnTracked(`replica-${serial}`, process.execPath, ['--import', 'tsx', 'src/server.ts'], { ...env, PORT: '0', HOST: '127.0.0.1' }, (line) =>
      countErrorLine(replica, line),
    )
    const line = await replica.process.waitForLine((text) => text.startsWith('{') && LISTENING.test(String((JSON.parse(text) as { msg?: unknown }).msg)))
    replica.port = Number(LISTENING.exec(String((JSON.parse(line) as { msg: string }).msg))![1])
    replicas.push(replica)
    live.push(replica)
    void replica.process.exited.then(() => (live = live.filter((r) => r !== replica)))
    return replica
  }

  await Promise.all(Array.from({ length: count }, startOne))
  return {
    pick: () => (live.length === 0 ? undefined : live[next++ % live.length]),
    killOne: async () => {
      const victim = live[0]!
      live = live.filter((r) => r !== victim)
      victim.killedByRun = true
      await killNow(victim.process)
      const started = await startOne()
      return { killed: victim.serial, started: started.serial }
    },
    all: () => replicas,
    crashed: () => replicas.filter((r) => !r.killedByRun && (r.process.child.exitCode !== null || r.process.child.signalCode !== null)),
    stopAll: async () => {
      live = []
      await Promise.all(replicas.map((r) => stopGently(r.process, 5_000)))
    },
  }
}
