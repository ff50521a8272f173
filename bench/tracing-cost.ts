import { peakRssMb, runLoad, stop, type ProxyProcess, type StartProxy } from './children.ts'
import type { LatencySummary } from './load-spec.ts'
import { startOtlpReceiver } from './otlp-receiver.ts'
import type { SimControl } from './sim-control.ts'

// Scenario 7: what tracing costs a single merge. Three proxies at the default AIFI_MAX_RPS run side by side:
// tracing off, on (exporting to a stand-in collector in this process), and off again. The two "off" proxies
// differ only by chance, so their ratio is the noise that the on/off ratio is read against.

const MERGES_PER_PROXY = 200
const WARMUP_PER_PROXY = 10
/**
 * Each proxy gets a merge every 120 ms, the three in turn (one every 40 ms in all): 17 AiFi calls a second, under
 * the limiter's 20, so no merge waits for a token, and each runs alone on the machine.
 */
const SPACING_MS = 120

export interface TracedProxy extends LatencySummary {
  peakRssMb: number
}

export interface TracingCostResult {
  mergesPerProxy: number
  warmupPerProxy: number
  spacingMs: number
  off: TracedProxy
  on: TracedProxy
  offAgain: TracedProxy
  spansReceived: number
  exportRequests: number
}

export async function measureTracingCost(startProxy: StartProxy, authorization: string, sim: SimControl): Promise<TracingCostResult> {
  const receiver = await startOtlpReceiver()
  const proxies: ProxyProcess[] = []
  try {
    const tracingOn = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }
    for (const env of [{}, tracingOn, {}]) proxies.push(await startProxy(env))
    await sim.setLatency(0)
    // One session for all three: paced and staggered, their merges never overlap.
    const sessionId = await sim.createSession()
    const result = await runLoad({
      mode: 'proxy',
      origin: proxies[0]!.url,
      origins: proxies.map((proxy) => proxy.url),
      authorization,
      sessionIds: [sessionId],
      count: proxies.length * MERGES_PER_PROXY,
      concurrency: proxies.length,
      keys: 16,
      warmup: proxies.length * WARMUP_PER_PROXY,
      spacingMs: SPACING_MS,
    })
    const [off, on, offAgain] = result.byOrigin.map((summary, i) => ({ ...summary, peakRssMb: peakRssMb(proxies[i]!.child) ?? NaN }))
    // SIGTERM exports the spans still buffered before the process exits, so every span is counted.
    await Promise.all(proxies.map((proxy) => stop(proxy.child)))
    return {
      mergesPerProxy: MERGES_PER_PROXY,
      warmupPerProxy: WARMUP_PER_PROXY,
      spacingMs: SPACING_MS,
      off: off!,
      on: on!,
      offAgain: offAgain!,
      spansReceived: receiver.spansReceived(),
      exportRequests: receiver.exportRequests(),
    }
  } finally {
    await Promise.all(proxies.map((proxy) => stop(proxy.child)))
    await receiver.close()
  }
}
