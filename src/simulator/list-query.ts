import type { FieldError } from '../schemas.ts'
import { buildInvalidBody, fieldError, type AifiErrorBody } from './aifi-error-body.ts'
import type { ListFilter } from './session-store.ts'

const DEFAULT_COUNT = 20
const MAX_COUNT = 200

type ListQueryResult = { ok: true; filter: ListFilter } | { ok: false; error: AifiErrorBody }

/**
 * The list endpoint's query, limited to the filters the proxy relies on. The other filters in AiFi's docs
 * and unknown parameters are ignored rather than rejected, as a lenient stand-in should.
 */
export function parseListQuery(params: URLSearchParams): ListQueryResult {
  const errors: FieldError[] = []
  const readInteger = (name: string, bounds: { min?: number; max?: number } = {}): number | undefined => {
    const raw = params.get(name)
    if (raw === null) return undefined
    const checked = checkInteger(name, raw, bounds)
    if ('error' in checked) errors.push(checked.error)
    return checked.value
  }

  const count = readInteger('count', { min: 1, max: MAX_COUNT }) ?? DEFAULT_COUNT
  const id = readInteger('id')
  const after = readInteger('after')
  const sessionToken = params.get('sessionToken') ?? undefined

  if (errors.length > 0) return { ok: false, error: buildInvalidBody('Invalid request query', errors) }
  return { ok: true, filter: { count, id, after, sessionToken } }
}

function checkInteger(
  name: string,
  raw: string,
  bounds: { min?: number; max?: number },
): { value: number } | { value?: undefined; error: FieldError } {
  const value = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(value)) {
    return { error: fieldError(name, 'must be a number', 'number.base') }
  }
  if (!Number.isSafeInteger(value)) return { error: fieldError(name, 'must be an integer', 'number.integer') }
  if (bounds.min !== undefined && value < bounds.min) {
    return { error: fieldError(name, `must be greater than or equal to ${bounds.min}`, 'number.min') }
  }
  if (bounds.max !== undefined && value > bounds.max) {
    return { error: fieldError(name, `must be less than or equal to ${bounds.max}`, 'number.max') }
  }
  return { value }
}
