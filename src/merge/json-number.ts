/**
 * Numbers that keep their digits (docs/http-api.md#numbers). A number whose text a double writes back exactly
 * (`String(Number(text)) === text`) is a plain number; any other (`12345678901234567890`, `1.0`, `-0`, `1e-400`)
 * is a frozen `JSON.rawJSON(text)` value, which JSON.stringify writes back as that very text. Such a value is a
 * number leaf everywhere: never an object to merge into or to walk.
 */
export type JsonNumber = number | RawJSON

export function isRawNumber(value: unknown): value is RawJSON {
  return JSON.isRawJSON(value)
}

export function isJsonNumber(value: unknown): value is JsonNumber {
  return typeof value === 'number' || JSON.isRawJSON(value)
}

/** The value of a JSON number token as the tree holds it. */
export function readNumberToken(text: string): JsonNumber {
  const value = Number(text)
  return String(value) === text ? value : JSON.rawJSON(text)
}

/** True when the number's exact value is outside what a double can hold (1E400), which JSON.stringify would write as null. */
export function isOutOfDoubleRange(value: JsonNumber): boolean {
  return !Number.isFinite(isRawNumber(value) ? Number(value.rawJSON) : value)
}

/**
 * One text per exact decimal value, in the form ECMAScript gives a double (Number::toString), so
 * `1.0`, `1e0` and `1` share `1`, `-0` is `0`, and a plain number's text is String(number), as before raw
 * numbers existed (ETags of ordinary documents are unchanged). Two different values never share a text.
 */
export function canonicalNumberText(value: JsonNumber): string {
  if (!isRawNumber(value)) return String(value)
  return formatDecimal(value.rawJSON)
}

const NUMBER_PARTS = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/

function formatDecimal(text: string): string {
  const parts = NUMBER_PARTS.exec(text)
  if (parts === null) throw new TypeError('not a JSON number')
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = parts
  const all = whole + fraction
  const significant = all.replace(/^0+/, '')
  const digits = significant.replace(/0+$/, '')
  if (digits === '') return '0'
  const trailingZeros = significant.length - digits.length
  const k = digits.length
  // value = digits × 10^(n − k), the n of ECMAScript's Number::toString.
  const n = BigInt(exponent) - BigInt(fraction.length) + BigInt(trailingZeros + k)
  return sign + placePoint(digits, k, n)
}

/** ECMAScript Number::toString steps 6 to 12, for any number of digits and any exponent. */
function placePoint(digits: string, k: number, n: bigint): string {
  if (n >= BigInt(k) && n <= 21n) return digits + '0'.repeat(Number(n) - k)
  if (n > 0n && n <= 21n) return `${digits.slice(0, Number(n))}.${digits.slice(Number(n))}`
  if (n > -6n && n <= 0n) return `0.${'0'.repeat(-Number(n))}${digits}`
  const e = n - 1n
  const exponent = `e${e < 0n ? '-' : '+'}${e < 0n ? -e : e}`
  return k === 1 ? digits + exponent : `${digits[0]}.${digits.slice(1)}${exponent}`
}
