import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { runFaults } from './chaos/faults.ts'
import { overlappingSessions, traceLostKeys } from './chaos/forensics.ts'
import { appendEvents, runLoad } from './chaos/load.ts'
import { readChaosOptions } from './chaos/options.ts'
import { killAllNow } from './chaos/processes.ts'
import { startChaosRedis } from './chaos/redis.ts'
import { errorMessages, startReplicaPool } from './chaos/replicas.ts'
import { renderReport } from './chaos/report.ts'
import { createSimClient, startSimulator, type SessionState } from './chaos/simulator.ts'
import { judgeAnswers, judgeEvents, type Violation } from './chaos/verdict.ts'

// `npm run chaos`: three replicas, their Redis and the AiFi simulator as processes, under load, while replicas are
// killed, Redis restarts and pauses and AiFi fails; then every answer is checked against what AiFi stored.
// Exits 1 on any violation. Every process it started is killed at the end, on an error and on Ctrl-C.

const REPLICAS = 3
/** How late an answer may come after the request deadline before it counts as "not in time". */
const IN_TIME_SLACK_MS = 2_000

const options = readChaosOptions()

async function main(): Promise<number> {
  const token = randomBytes(12).toString('hex')
  const secret = randomBytes(12).toString('hex')
  console.error('chaos: starting the simulator, Redis and three replicas ...')
  const [simulator, redis] = await Promise.all([startSimulator(token), startChaosRedis()])
  const sim = createSimClient(simulator.url)
  const created = await Promise.all(Array.from({ length: options.hotSessions + options.coldSessions }, () => sim.createSession()))
  const ids = created.map((session) => session.sessionId)
  const sessions = { hot: ids.slice(0, options.hotSessions), cold: ids.slice(options.hotSessions) }
  const replicas = await startReplicaPool(REPLICAS, {
    AIFI_BASE_URL: simulator.url,
    AIFI_API_TOKEN: token,
    PROXY_API_KEYS: `chaos:${secret}`,
    REDIS_URL: redis.url,
    ...options.replicaEnv,
  })

  console.error(`chaos: ${options.durationMs / 1000} s of load with faults ...`)
  let stopped = false
  const timer = setTimeout(() => (stopped = true), options.durationMs)
  const isStopped = () => stopped
  const clientTimeoutMs = options.requestDeadlineMs + 10_000
  const plan = { sessions, workers: options.workers, authorization: `Bearer ${secret}`, clientTimeoutMs }
  const [answers, appended, faults] = await Promise.all([
    runLoad(plan, replicas, isStopped),
    appendEvents(sim, sessions, options.eventEveryMs, isStopped),
    runFaults({ sim, redis, replicas }, options.faultEveryMs, options.durationMs - options.faultEveryMs, isStopped),
  ])
  clearTimeout(timer)

  // A patch whose replica was killed is applied or dropped by its deadline, never later: wait that long.
  console.error('chaos: load stopped, letting the replicas drain ...')
  await sim.setLatency({ op: 'all', ms: 0 })
  await sleep(options.requestDeadlineMs + 1_000)

  const finals = new Map<string, SessionState>()
  for (const id of ids) finals.set(id, await sim.readSession(id))
  const counters = await sim.counters()
  const carried = (sessionId: string, eventId: string) =>
    counters.patchBodies.some((write) => write.sessionId === sessionId && JSON.stringify(write.body).includes(JSON.stringify(eventId)))
  const expectedEvents = [...created.flatMap((s) => (s.metadata.events ?? []).map((e) => ({ sessionId: s.sessionId, eventId: e.eventId }))), ...appended]
  const verdict = judgeAnswers(answers, finals, options.requestDeadlineMs + IN_TIME_SLACK_MS)
  const events = judgeEvents(expectedEvents, finals, carried)
  const keys = new Map(answers.map((answer) => [answer.requestId, answer.key]))
  traceLostKeys(verdict.violations, counters, (requestId) => keys.get(requestId))
  const crashes: Violation[] = replicas.crashed().map((r) => ({ check: 'a replica exited on its own', detail: `replica-${r.serial}: ${r.process.stderr().split('\n')[0]}` }))
  await replicas.stopAll()
  await redis.stop()

  const violations = [...verdict.violations, ...events.lostAfterCarried, ...crashes]
  const started = replicas.all().length
  console.log(
    renderReport({
      setup: `${options.durationMs / 1000} s, ${options.workers} workers, ${REPLICAS} replicas (${started} started), ${sessions.hot.length} hot + ${sessions.cold.length} cold sessions, ${Object.entries(options.replicaEnv).map(([k, v]) => `${k}=${v}`).join(' ')}`,
      faults,
      answers,
      maybe: verdict.maybe,
      events: { checked: expectedEvents.length, lostInKnownWindow: events.lostInKnownWindow },
      aifi: { writes: counters.patchBodies.length, overlapping: overlappingSessions(counters) },
      replicas: replicas.all(),
      errorMessages,
      violations,
    }),
  )
  return violations.length === 0 ? 0 : 1
}

function endNow(code: number): never {
  killAllNow()
  process.exit(code)
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`chaos: ${signal}, killing every process it started`)
    endNow(130)
  })
}
const hardLimitMs = options.durationMs + 90_000
setTimeout(() => {
  console.error(`chaos: not done after ${hardLimitMs / 1000} s, giving up`)
  endNow(2)
}, hardLimitMs).unref()

main().then(endNow, (error: unknown) => {
  console.error('chaos failed:', error)
  endNow(2)
})
