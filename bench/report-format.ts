// What every section of the report is written with: table rows, figures rounded to what they can tell, targets.

export interface Target {
  name: string
  goal: string
  measured: string
  met: boolean
}

export function row(...cells: Array<string | number>): string {
  return `| ${cells.join(' | ')} |`
}

/** The separator under a header row of `columns` cells. */
export function rule(columns: number): string {
  return row(...Array<string>(columns).fill('---'))
}

/** A duration in ms; none (NaN, which a child's JSON brings as null) is a dash. */
export function ms(value: number | null): string {
  if (value === null || Number.isNaN(value)) return '–'
  return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0)
}

export function us(value: number): string {
  return value.toFixed(0)
}

export function pct(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`
}

export function times(ratio: number): string {
  return `${ratio.toFixed(2)}×`
}

export function describeFailures(failures: Record<string, number>): string {
  const entries = Object.entries(failures)
  return entries.length === 0 ? '0' : entries.map(([status, count]) => `${count} × ${status}`).join(', ')
}
