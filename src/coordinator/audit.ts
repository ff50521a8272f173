import type { FastifyBaseLogger } from 'fastify'
import { levels } from 'pino'
import { summarizeChanges } from '../merge/index.ts'
import type { PatchRecord } from './patch-record.ts'

export type AuditOutcome = 'applied' | 'rejected' | 'unverified' | 'failed'

/**
 * One audit line per upstream PATCH sent (docs/operations.md#audit-lines): who asked for what, by JSON path only. Values never appear:
 * metadata may hold personal data.
 */
export function logWriteAudit(
  logger: FastifyBaseLogger,
  entry: {
    sessionId: string
    patches: PatchRecord[]
    eventsKept: boolean
    fraudRaised: boolean
    outcome: AuditOutcome
    upstreamStatus: string
    upstreamMs: number
  },
): void {
  const level = entry.outcome === 'applied' ? 'info' : 'warn'
  // Summarizing every caller's paths is work on the hot path: skip it when the line would be dropped anyway.
  if ((levels.values[logger.level] ?? Number.POSITIVE_INFINITY) > levels.values[level]!) return
  const callers = entry.patches.map((patch) => ({
    caller: patch.caller,
    requestId: patch.requestId,
    ...(patch.replica === undefined ? {} : { replica: patch.replica }),
    ...summarizeChanges(patch.body.metadata ?? {}),
  }))
  const audit = {
    sessionId: entry.sessionId,
    outcome: entry.outcome,
    upstreamStatus: entry.upstreamStatus,
    upstreamMs: Math.round(entry.upstreamMs),
    batchSize: entry.patches.length,
    eventsKept: entry.eventsKept,
    fraudRaised: entry.fraudRaised,
    callers,
  }
  logger[level]({ audit }, entry.outcome === 'applied' ? 'upstream write' : 'upstream write not confirmed')
}
