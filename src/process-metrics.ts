import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Gauge, collectDefaultMetrics, type Registry } from 'prom-client'

// prom-client's default process and Node.js metrics, made to parse as OpenMetrics at any scrape rate
// (docs/operations.md#metrics). Its event-loop gauges read a histogram that it resets at every scrape: scraped
// again before the histogram has a sample (10 ms), they print `Nan` and a minimum of 9223372036.854776 s. The
// gauges below replace them under the same names, and a histogram is reset only after a scrape that read samples.

const EVENT_LOOP_RESOLUTION_MS = 10
/** The longest timer Node runs: prom-client's own event-loop histogram, which nothing reads any more, stays idle. */
const IDLE_RESOLUTION_MS = 2 ** 31 - 1

const PROM_CLIENT_EVENT_LOOP_GAUGES = ['', '_min', '_max', '_mean', '_stddev', '_p50', '_p90', '_p99'].map(
  (suffix) => `nodejs_eventloop_lag${suffix}_seconds`,
)
/**
 * Gauges whose `_total` names say "counter" to promtool and OpenMetrics; `nodejs_active_handles{type}` and its
 * siblings hold the same counts by type.
 */
const MISNAMED_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']

/** Registers the process metrics on `registry`; `close` stops the event-loop histogram. */
export function registerProcessMetrics(registry: Registry): { close(): void } {
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: IDLE_RESOLUTION_MS })
  for (const name of [...PROM_CLIENT_EVENT_LOOP_GAUGES, ...MISNAMED_GAUGES]) registry.removeSingleMetric(name)

  const histogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS })
  histogram.enable()
  const registers = [registry]
  // Registered first, so that its collect sets the other gauges before a scrape reads them (in registration order).
  const lag = new Gauge({
    name: 'nodejs_eventloop_lag_seconds',
    help: 'Lag of event loop in seconds.',
    registers,
    collect() {
      const start = process.hrtime.bigint()
      setImmediate(() => lag.set(Number(process.hrtime.bigint() - start) / 1e9))
      // No sample since the last window (a scrape within 10 ms of the one before): its figures still stand.
      if (histogram.count === 0) return
      for (const [gauge, nanoseconds] of [
        [min, histogram.min],
        [max, histogram.max],
        [mean, histogram.mean],
        [stddev, histogram.stddev],
        [p50, histogram.percentile(50)],
        [p90, histogram.percentile(90)],
        [p99, histogram.percentile(99)],
      ] as const) {
        gauge.set(nanoseconds / 1e9)
      }
      histogram.reset()
    },
  })
  const gauge = (suffix: string, help: string) =>
    new Gauge({ name: `nodejs_eventloop_lag_${suffix}_seconds`, help: `${help} since the previous scrape that had samples.`, registers })
  const min = gauge('min', 'The minimum recorded event loop delay')
  const max = gauge('max', 'The maximum recorded event loop delay')
  const mean = gauge('mean', 'The mean of the recorded event loop delays')
  const stddev = gauge('stddev', 'The standard deviation of the recorded event loop delays')
  const p50 = gauge('p50', 'The 50th percentile of the recorded event loop delays')
  const p90 = gauge('p90', 'The 90th percentile of the recorded event loop delays')
  const p99 = gauge('p99', 'The 99th percentile of the recorded event loop delays')

  return { close: () => histogram.disable() }
}
