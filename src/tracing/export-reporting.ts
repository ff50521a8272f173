import { ExportResultCode, type ExportResult } from '@opentelemetry/core'
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base'

export interface ExportLogger {
  warn(object: object, message: string): void
  info(object: object, message: string): void
}

/**
 * Wraps an exporter so that a collector that is down is said once, when the first export fails (with the
 * endpoint, and the error's message only: a stack says nothing to whoever runs the proxy), then again only after
 * exports have worked in between. `isReported` tells the SDK's global error handler that a failure was said here.
 */
export function reportExportFailures(exporter: SpanExporter, endpoint: string, logger: ExportLogger) {
  const reported = new WeakSet<object>()
  let failing = false

  const settle = (spans: number, result: ExportResult) => {
    if (result.code === ExportResultCode.SUCCESS) {
      if (failing) logger.info({ component: 'opentelemetry', endpoint }, 'trace export works again')
      failing = false
      return
    }
    if (result.error !== undefined) reported.add(result.error)
    if (failing) return
    failing = true
    logger.warn(
      { component: 'opentelemetry', endpoint, reason: result.error?.message, spans },
      'trace export failed: spans are being dropped until the collector answers',
    )
  }

  const wrapped: SpanExporter = {
    export: (spans: ReadableSpan[], done: (result: ExportResult) => void) =>
      exporter.export(spans, (result) => {
        settle(spans.length, result)
        done(result)
      }),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  }
  return { exporter: wrapped, isReported: (error: unknown) => typeof error === 'object' && error !== null && reported.has(error) }
}

/**
 * Resolves when `work` does or when `ms` have passed, whichever is first: the final flush to a collector that does
 * not answer must not hold the process's exit for the exporter's own timeout and retries.
 */
export async function boundedBy(ms: number, work: Promise<void>, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms)
  })
  const outcome = await Promise.race([work.then(() => 'done' as const, () => 'done' as const), timedOut])
  clearTimeout(timer)
  if (outcome === 'timeout') onTimeout()
}
