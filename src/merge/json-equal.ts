import { canonicalNumberText, isJsonNumber } from './json-number.ts'

/**
 * Equality of two values as JSON documents: numbers by exact decimal value (RFC 8259 has one zero, so `-0` equals
 * `0`; `1.0` equals `1`; raw numbers of docs/http-api.md#numbers included), object members unordered, array
 * elements ordered. Iterative, because upstream values are not depth-checked.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  const pending: Array<[unknown, unknown]> = [[a, b]]
  for (let pair = pending.pop(); pair !== undefined; pair = pending.pop()) {
    const [left, right] = pair
    // `===` already holds for -0 and 0, unlike Object.is.
    if (left === right) continue
    if (isJsonNumber(left) || isJsonNumber(right)) {
      if (isJsonNumber(left) && isJsonNumber(right) && canonicalNumberText(left) === canonicalNumberText(right)) continue
      return false
    }
    if (typeof left !== 'object' || typeof right !== 'object' || left === null || right === null) return false
    if (Array.isArray(left) !== Array.isArray(right)) return false
    const leftKeys = Object.keys(left)
    if (leftKeys.length !== Object.keys(right).length) return false
    for (const key of leftKeys) {
      if (!Object.hasOwn(right, key)) return false
      pending.push([(left as Record<string, unknown>)[key], (right as Record<string, unknown>)[key]])
    }
  }
  return true
}
