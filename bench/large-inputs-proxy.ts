import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import type { AddressInfo } from 'node:net'
import { Client } from 'undici'
import type * as LocalAppModule from '../src/local-app.ts'
import type * as ConfigModule from '../src/config.ts'
import type * as LoggerModule from '../src/logger.ts'
import type * as UpstreamTargetModule from '../src/upstream-target.ts'
import type { LargeInputsRun, LargeInputsSpec, StallRow } from './large-inputs.ts'
import { SESSIONS_PATH } from './load-spec.ts'
import { createSimControl } from './sim-control.ts'

// The child of scenario 5: the proxy from the compiled build, composed as src/server.ts composes it, in this
// process beside an event-loop monitor. It sends each large input through a real socket to itself, one request
// at a time, and prints a LargeInputsRun as JSON on stdout; the proxy logs to stderr.

const spec = JSON.parse(process.argv[2] ?? '') as LargeInputsSpec
/** The monitor's timer period. It records the time between its own ticks, so a tick of d ms is a block of d - 1. */
const RESOLUTION_MS = 1
const MIB = 1024 * 1024

const EVENTS = [
  { eventId: 'e0a0c2a4-0000-4000-8000-000000000001', metadata: { type: 'ThirdParty', payload: { items: [1, 2] } } },
  { eventId: 'e0a0c2a4-0000-4000-8000-000000000002', metadata: { type: 'Handoff' } },
]

interface LargeInput {
  input: string
  body: string
  /** The session's metadata before the merge. */
  metadata: Record<string, unknown>
}

/** The inputs of test/hostile-limits.test.ts, at their full size. */
function largeInputs(): LargeInput[] {
  const keys = Object.fromEntries(Array.from({ length: 10_000 }, (_, index) => [`key-${index}`, index % 2 ? index : { n: index }]))
  const events = Array.from({ length: 1500 }, (_, index) => ({
    eventId: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
    metadata: { type: index % 2 ? 'ThirdParty' : 'Handoff', note: 'n'.repeat(300) },
  }))
  const mibOfMetadata: Record<string, unknown> = { events }
  for (let index = 0; index < 1000; index++) mibOfMetadata[`key-${index}`] = { value: 'v'.repeat(500), index }
  const stringPatch = (value: string) => JSON.stringify({ metadata: { nested: { value } } })
  return [
    { input: 'a patch of 10,000 keys', body: JSON.stringify({ metadata: keys }), metadata: { events: EVENTS } },
    { input: 'a 1 MB ASCII string', body: stringPatch('a'.repeat(MIB)), metadata: { events: EVENTS } },
    // Multi-byte characters, a surrogate pair and characters JSON must escape.
    { input: 'a 1 MB string, multi-byte and escaped', body: stringPatch('é😀"\\\n\u0001z'.repeat(MIB / 16)), metadata: { events: EVENTS } },
    {
      input: '1 MiB of upstream metadata, a 3-key patch',
      body: JSON.stringify({ metadata: { tier: 'gold', 'key-0': null, 'key-1': { value: 'changed' } } }),
      metadata: mibOfMetadata,
    },
  ]
}

async function importBuilt<T>(file: string): Promise<T> {
  return (await import(pathToFileURL(join(spec.dist, file)).href)) as T
}

/** The longest block of the event loop while `send` ran, and the request's wall time, in ms. */
async function measure(send: () => Promise<void>): Promise<{ stallMs: number; requestMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  histogram.enable()
  try {
    const started = performance.now()
    await send()
    const requestMs = performance.now() - started
    // Not a wait for the proxy: the monitor records on its own timer, so a block that ended the request is
    // recorded at its next tick.
    await sleep(RESOLUTION_MS * 5)
    return { stallMs: Math.max(0, histogram.max / 1e6 - RESOLUTION_MS), requestMs }
  } finally {
    histogram.disable()
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

async function main(): Promise<LargeInputsRun> {
  const { buildLocalApp } = await importBuilt<typeof LocalAppModule>('local-app.js')
  const { loadConfig } = await importBuilt<typeof ConfigModule>('config.js')
  const { createLogger } = await importBuilt<typeof LoggerModule>('logger.js')
  const { resolveUpstreamTarget } = await importBuilt<typeof UpstreamTargetModule>('upstream-target.js')
  const callerKey = randomBytes(12).toString('hex')
  const config = loadConfig({
    NODE_ENV: 'production',
    AIFI_BASE_URL: spec.simulatorUrl,
    AIFI_API_TOKEN: spec.token,
    PROXY_API_KEYS: `bench:${callerKey}`,
    // The limiter would only space the runs out; it does nothing to a stall.
    AIFI_MAX_RPS: '1000',
    BODY_LIMIT_BYTES: String(spec.bodyLimitBytes),
    LOG_LEVEL: 'warn',
  })
  const target = await resolveUpstreamTarget(config)
  const app = await buildLocalApp(config, target, { loggerInstance: createLogger(config, process.stderr) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const client = new Client(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, { keepAliveTimeout: 60_000 })
  const sim = createSimControl(spec.simulatorUrl)
  const rows: StallRow[] = []
  try {
    for (const { input, body, metadata } of largeInputs()) {
      const send = (sessionId: string) => async () => {
        const response = await client.request({
          method: 'PATCH',
          path: `${SESSIONS_PATH}/${sessionId}`,
          headers: { authorization: `Bearer ${callerKey}`, 'content-type': 'application/json' },
          body,
        })
        const text = await response.body.text()
        if (response.statusCode !== 200) throw new Error(`${input}: ${response.statusCode} ${text.slice(0, 200)}`)
      }
      // The first large input compiles cold code paths, which a long-running server pays once.
      await send(await sim.createSession(metadata))()
      const runs: Array<{ stallMs: number; requestMs: number }> = []
      for (let run = 0; run < spec.runs; run++) runs.push(await measure(send(await sim.createSession(metadata))))
      const stallsMs = runs.map((run) => run.stallMs)
      rows.push({
        input,
        bodyBytes: Buffer.byteLength(body),
        upstreamBytes: Buffer.byteLength(JSON.stringify(metadata)),
        stallsMs,
        medianMs: median(stallsMs),
        maxMs: Math.max(...stallsMs),
        medianRequestMs: median(runs.map((run) => run.requestMs)),
      })
    }
  } finally {
    await client.close()
    await app.close()
    await target.close()
  }
  return { resolutionMs: RESOLUTION_MS, rows }
}

main().then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  },
)
