import type { FaultRecord } from './faults.ts'
import type { Answer } from './load.ts'
import { claimOf, type Violation } from './verdict.ts'

// The run's report, as plain text on stdout: what was done, what came back, and every violation found.

const LISTED_PER_CHECK = 15

export interface ChaosReport {
  setup: string
  faults: FaultRecord[]
  answers: Answer[]
  maybe: { present: number; absent: number }
  events: { checked: number; lostInKnownWindow: number }
  aifi: { writes: number; overlapping: string[] }
  replicas: Array<{ serial: number; errorLines: number; killedByRun: boolean }>
  /** The replicas' error log messages (never values: the proxy logs none), with how often each came. */
  errorMessages: Map<string, number>
  violations: Violation[]
}

export function renderReport(report: ChaosReport): string {
  const lines = [`chaos: ${report.setup}`, '', 'faults:']
  for (const fault of report.faults) {
    const outcome = fault.error ? ` FAILED: ${fault.error}` : fault.detail ? ` (${fault.detail})` : ''
    lines.push(`  ${(fault.atMs / 1000).toFixed(1).padStart(5)} s  ${fault.name}${outcome}`)
  }
  lines.push('', `answers: ${report.answers.length}`)
  for (const [label, count] of countBy(report.answers, (a) => `${a.status ?? '---'} ${a.type}`)) lines.push(`  ${String(count).padStart(6)}  ${label}`)
  const claims = countBy(report.answers, claimOf)
  lines.push(`  by claim: ${[...claims].map(([claim, count]) => `${claim} ${count}`).join(', ')}`)
  lines.push(`  maybe applied: ${report.maybe.present} stored, ${report.maybe.absent} not stored`)
  lines.push(...renderLatency(report.answers))
  lines.push(
    `events: ${report.events.checked} checked; lost inside a read-to-write window (documented, not a violation): ${report.events.lostInKnownWindow}`,
    `AiFi: ${report.aifi.writes} writes; sessions with writes in flight at once: ${report.aifi.overlapping.join(', ') || 'none'}`,
    `replicas: ${report.replicas.map((r) => `replica-${r.serial}${r.killedByRun ? ' (killed)' : ''}: ${r.errorLines} error lines`).join(', ')}`,
  )
  for (const [message, count] of [...report.errorMessages].sort((a, b) => b[1] - a[1])) lines.push(`  ${String(count).padStart(6)}  ${message}`)
  lines.push('', `violations: ${report.violations.length}`)
  for (const [check, count] of countBy(report.violations, (v) => v.check)) {
    lines.push(`  ${check}: ${count}`)
    // A few of each check, so a rare kind is never hidden behind a frequent one.
    for (const violation of report.violations.filter((v) => v.check === check).slice(0, LISTED_PER_CHECK)) lines.push(`    - ${describeViolation(violation)}`)
    if (count > LISTED_PER_CHECK) lines.push(`    ... and ${count - LISTED_PER_CHECK} more`)
  }
  return lines.join('\n')
}

function describeViolation(violation: Violation): string {
  const sentAt = violation.atMs === undefined ? undefined : `sent at ${(violation.atMs / 1000).toFixed(1)} s${violation.ms === undefined ? '' : `, answered in ${violation.ms} ms`}`
  const fields = [violation.requestId, violation.type, sentAt, violation.sessionId && `session ${violation.sessionId}`, violation.detail]
  return fields.filter(Boolean).join(', ')
}

function renderLatency(answers: Answer[]): string[] {
  const answered = answers.filter((a) => a.status !== null).sort((a, b) => a.ms - b.ms)
  if (answered.length === 0) return ['latency: no answers']
  const at = (q: number) => Math.round(answered[Math.min(answered.length - 1, Math.floor(q * answered.length))]!.ms)
  const slowest = answered.at(-1)!
  return [`latency: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, slowest ${Math.round(slowest.ms)} ms (${slowest.status} ${slowest.type}, ${slowest.requestId})`]
}

/** Counts by label, most frequent first. */
function countBy<T>(items: T[], labelOf: (item: T) => string): Array<[string, number]> {
  const counts = new Map<string, number>()
  for (const item of items) counts.set(labelOf(item), (counts.get(labelOf(item)) ?? 0) + 1)
  return [...counts].sort((a, b) => b[1] - a[1])
}
