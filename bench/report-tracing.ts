import { ms, row, rule, times, type Target } from './report-format.ts'
import type { TracedProxy, TracingCostResult } from './tracing-cost.ts'

// Scenario 7 in the report: tracing on against off, beside off against off.

/** How far apart two identical "off" proxies may land for the run to tell anything finer about tracing. */
export const OFF_NOISE_BAND = { low: 0.9, high: 1.1 }

export function tracingTargets(result: TracingCostResult): Target[] {
  const offRatio = result.offAgain.p50Ms / result.off.p50Ms
  return [
    {
      name: 'Tracing off: p50 of two identical "off" proxies',
      goal: `within the noise: ${times(OFF_NOISE_BAND.low)}–${times(OFF_NOISE_BAND.high)} of each other`,
      measured: `${times(offRatio)} (on/off: ${times(result.on.p50Ms / result.off.p50Ms)})`,
      met: offRatio >= OFF_NOISE_BAND.low && offRatio <= OFF_NOISE_BAND.high,
    },
    { name: 'Tracing on: spans received by the collector', goal: '> 0', measured: `${result.spansReceived}`, met: result.spansReceived > 0 },
  ]
}

export function renderTracing(result: TracingCostResult): string[] {
  const { off } = result
  const proxyRow = (label: string, proxy: TracedProxy) =>
    row(label, proxy.count, proxy.count - proxy.ok, ms(proxy.p50Ms), ms(proxy.p99Ms), ms(proxy.maxMs), times(proxy.p50Ms / off.p50Ms), times(proxy.p99Ms / off.p99Ms), `${proxy.peakRssMb.toFixed(1)} MB`)
  const merges = result.on.count + result.warmupPerProxy
  return [
    `### 7. Tracing cost (single merges, zero latency, default AIFI_MAX_RPS=20; three proxies side by side, ${result.mergesPerProxy} merges each, ` +
      `one every ${result.spacingMs} ms per proxy, in turn)`,
    '',
    row('proxy', 'merges', 'failed', 'p50', 'p99', 'max', 'p50 / off', 'p99 / off', 'peak RSS'),
    rule(9),
    proxyRow('tracing off', result.off),
    proxyRow('tracing on (OTLP/HTTP JSON to a local stand-in)', result.on),
    proxyRow('tracing off, again', result.offAgain),
    '',
    `Latencies in ms. The two "off" rows are the same build and configuration: their ratio is this run's noise. ` +
      `The stand-in collector received ${result.spansReceived} spans in ${result.exportRequests} export requests ` +
      `from the "on" proxy's ${merges} merges, warm-up included: ${(result.spansReceived / merges).toFixed(1)} per merge.`,
    '',
  ]
}
