import { parseArgs } from 'node:util'

// What a chaos run is told: its own flags, and the replicas' settings, shortened so that deadlines, lock waits and
// upstream timeouts all happen, and drain, within a run of a minute. Each can be overridden from the environment.

export interface ChaosOptions {
  durationMs: number
  workers: number
  hotSessions: number
  coldSessions: number
  /** One fault every this often, the first after it, none in the last stretch of the run. */
  faultEveryMs: number
  /** How often the simulator appends an event to one of the sessions, as AiFi's feeds would. */
  eventEveryMs: number
  /** The replicas' own settings (their environment). */
  replicaEnv: Record<string, string>
  requestDeadlineMs: number
}

const REPLICA_DEFAULTS: Record<string, string> = {
  REQUEST_DEADLINE_MS: '8000',
  LOCK_WAIT_MS: '4000',
  LOCK_TTL_MS: '3000',
  UPSTREAM_TIMEOUT_MS: '2000',
  UPSTREAM_RETRIES: '3',
  AIFI_MAX_RPS: '40',
  SHUTDOWN_GRACE_MS: '3000',
}

const USAGE = `Usage: npm run chaos -- [--duration-s 60] [--workers 30] [--hot 3] [--cold 30] [--fault-every-s 3]
Replica settings come from the environment (defaults: ${Object.entries(REPLICA_DEFAULTS).map(([k, v]) => `${k}=${v}`).join(' ')}).`

export function readChaosOptions(argv: string[] = process.argv.slice(2), env = process.env): ChaosOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      'duration-s': { type: 'string', default: '60' },
      workers: { type: 'string', default: '30' },
      hot: { type: 'string', default: '3' },
      cold: { type: 'string', default: '30' },
      'fault-every-s': { type: 'string', default: '3' },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const replicaEnv = Object.fromEntries(Object.entries(REPLICA_DEFAULTS).map(([name, value]) => [name, env[name] ?? value]))
  return {
    durationMs: positive(values['duration-s'], '--duration-s') * 1000,
    workers: positive(values.workers, '--workers'),
    hotSessions: positive(values.hot, '--hot'),
    coldSessions: positive(values.cold, '--cold'),
    faultEveryMs: positive(values['fault-every-s'], '--fault-every-s') * 1000,
    eventEveryMs: 250,
    // info, not warn: the port is read from fastify's "Server listening at" line.
    replicaEnv: { ...replicaEnv, LOG_LEVEL: 'info' },
    requestDeadlineMs: Number(replicaEnv.REQUEST_DEADLINE_MS),
  }
}

function positive(text: string, flag: string): number {
  const value = Number(text)
  if (!(value > 0)) throw new Error(`${flag} must be a positive number, got ${text}\n${USAGE}`)
  return value
}
