import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { canonicalNumberText, computeEtag, isJsonObject, jsonEqual, mergeMetadata, parseJsonKeepingDigits } from '../src/merge/index.ts'
import type { JsonObject, JsonValue } from '../src/schemas.ts'

// docs/http-api.md#numbers: untouched number text survives a merge, and numbers compare by exact decimal value.

/** A number `mantissa × 10^exponent`, spelled in one of the many ways JSON allows. */
const spelledNumber = fc
  .record({
    mantissa: fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }),
    exponent: fc.integer({ min: -420, max: 420 }),
    zeros: fc.nat(3),
    shift: fc.nat(45),
    upper: fc.boolean(),
    padded: fc.boolean(),
  })
  .map(({ mantissa, exponent, zeros, shift, upper, padded }) => {
    const digits = (mantissa < 0n ? -mantissa : mantissa).toString() + '0'.repeat(zeros)
    const point = Math.max(1, digits.length - shift)
    const whole = digits.slice(0, point).replace(/^0+(?=\d)/, '')
    const fraction = digits.slice(point)
    const power = exponent - zeros + (digits.length - point)
    const sign = mantissa < 0n ? '-' : ''
    const text = `${sign}${whole}${fraction === '' ? '' : `.${fraction}`}${upper ? 'E' : 'e'}${padded && power >= 0 ? '+0' : ''}${power}`
    return { text, mantissa, exponent }
  })

/** The value as (digits without trailing zeros, exponent), so that equal values compare equal. */
function normalize({ mantissa, exponent }: { mantissa: bigint; exponent: number }): string {
  if (mantissa === 0n) return '0'
  let m = mantissa
  let e = exponent
  while (m % 10n === 0n) {
    m /= 10n
    e++
  }
  return `${m}e${e}`
}

const numberText = fc.oneof(
  spelledNumber.map(({ text }) => text),
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
  fc.constantFrom('-0', '1.0', '0.1000000000000000055511151231257827', '1e-400', '9007199254740993'),
)

/** JSON text with arbitrary number text; object keys are unique so that the text round-trips exactly. */
const jsonText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    numberText,
    fc.constantFrom('true', 'false', 'null', '"x"', '"a\\"b"'),
    fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
    objectText(tie('value')),
  ),
})).value

function objectText(value: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const key = fc.constantFrom('a', 'b', 'events', '__proto__', 'n')
  return fc
    .uniqueArray(fc.tuple(key, value), { maxLength: 4, selector: ([name]) => name })
    .map((members) => `{${members.map(([name, member]) => `${JSON.stringify(name)}:${member}`).join(',')}}`)
}

test('the digit-keeping parse writes back exactly the text it read', () => {
  fc.assert(fc.property(jsonText, (text) => JSON.stringify(parseJsonKeepingDigits(text)) === text))
})

test('a merge keeps the text of every number it did not set, and sets the patch text for those it did', () => {
  const patchText = fc.oneof(objectText(fc.oneof(jsonText, fc.constant('null'))), objectText(objectText(jsonText)))
  fc.assert(
    fc.property(objectText(jsonText), patchText, (targetText, patchBody) => {
      const target = parseJsonKeepingDigits(targetText) as JsonObject
      const patch = parseJsonKeepingDigits(patchBody) as JsonObject
      delete patch.events
      const merged = mergeMetadata(target, patch)
      assertTextsKept(target, patch, merged)
      if (Object.hasOwn(target, 'events')) assert.equal(JSON.stringify(merged.events), JSON.stringify(target.events))
    }),
  )
})

/** Walks the merge result against target and patch: every value comes from one of them, with its text. */
function assertTextsKept(target: JsonObject, patch: JsonObject, merged: JsonObject): void {
  const pending: Array<[JsonObject, JsonObject, JsonObject]> = [[target, patch, merged]]
  for (let entry = pending.pop(); entry !== undefined; entry = pending.pop()) {
    const [from, changes, result] = entry
    for (const key of Object.keys(result)) {
      const change = Object.hasOwn(changes, key) ? changes[key] : undefined
      const before = Object.hasOwn(from, key) ? from[key] : undefined
      if (change === undefined) assert.equal(JSON.stringify(result[key]), JSON.stringify(before))
      else if (!isJsonObject(change)) assert.equal(JSON.stringify(result[key]), JSON.stringify(change))
      else pending.push([isJsonObject(before) ? before : {}, change, result[key] as JsonObject])
    }
  }
}

test('two spellings are equal, in jsonEqual and the ETag, exactly when their decimal values are', () => {
  fc.assert(
    fc.property(spelledNumber, spelledNumber, (a, b) => {
      const left = parseJsonKeepingDigits(a.text) as JsonValue
      const right = parseJsonKeepingDigits(b.text) as JsonValue
      const same = normalize(a) === normalize(b)
      assert.equal(jsonEqual(left, right), same)
      assert.equal(computeEtag({ n: left }) === computeEtag({ n: right }), same)
    }),
  )
  fc.assert(
    fc.property(spelledNumber, fc.nat(3), (a, zeros) => {
      const respelled = `${a.text.replace(/[eE].*$/, '')}${'0'.repeat(a.text.includes('.') ? zeros : 0)}e${a.text.split(/[eE]/)[1]}`
      assert.ok(jsonEqual(parseJsonKeepingDigits(a.text), parseJsonKeepingDigits(respelled)))
    }),
  )
})

test('a double written as text and the same double as a plain number share one canonical text', () => {
  fc.assert(
    fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (value) => {
      assert.equal(canonicalNumberText(JSON.rawJSON(String(value))), String(value))
      assert.equal(canonicalNumberText(value), String(value))
    }),
  )
})
