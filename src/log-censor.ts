/**
 * Keys whose values never reach a log line, wherever they sit (docs/operations.md#what-is-never-logged): the
 * credential headers, and every field that holds a token or key. Compared in lower case.
 */
const SECRET_KEYS = new Set(['authorization', 'cookie', 'idempotency-key', 'token', 'upstreamtoken', 'secret', 'aifiapitoken', 'callerkeys'])
export const CENSORED = '[redacted]'
/** How deep into a logged object secrets are looked for: past this, an object is logged as it is. */
const MAX_DEPTH = 6

/**
 * `value` with the value of every secret key in it replaced by `[redacted]`, in plain objects and arrays at any
 * depth up to MAX_DEPTH. A class instance (a request, a reply, an error) is not walked: pino hands it to its
 * serializer, which keeps named fields only. Copies only what it changes, so the common log line, a few strings,
 * costs one pass over its keys and allocates nothing.
 *
 * This replaces pino's path-based `redact`, whose wildcard paths cost every log line and every request's child
 * logger about 40 µs: under a flood of refusals, a fifth of what each refusal cost.
 */
export function censorSecrets<T>(value: T, depth = 0): T {
  if (depth >= MAX_DEPTH || typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined
    value.forEach((item: unknown, index) => {
      const censored = censorSecrets(item, depth + 1)
      if (censored !== item) (copy ??= [...value])[index] = censored
    })
    return (copy ?? value) as T
  }
  const prototype: unknown = Object.getPrototypeOf(value)
  if (prototype !== Object.prototype && prototype !== null) return value
  const record = value as Record<string, unknown>
  let copy: Record<string, unknown> | undefined
  for (const key in record) {
    if (!Object.hasOwn(record, key)) continue
    const item = record[key]
    const censored = SECRET_KEYS.has(key.toLowerCase()) ? CENSORED : censorSecrets(item, depth + 1)
    if (censored !== item) (copy ??= { ...record })[key] = censored
  }
  return (copy ?? value) as T
}
