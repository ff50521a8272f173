import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  applyMergePatch,
  canonicalJson,
  canonicalNumberText,
  cloneJson,
  computeEtag,
  exceedsDepth,
  findForbiddenKey,
  findWriteMismatches,
  isJsonObject,
  jsonEqual,
  mergeMetadata,
  parseJsonKeepingDigits,
  summarizeChanges,
} from '../src/merge/index.ts'
import type { JsonObject, JsonValue } from '../src/schemas.ts'

const raw = (text: string) => JSON.rawJSON(text) as JsonValue
const parse = (text: string) => parseJsonKeepingDigits(text) as JsonValue

test('numbers a double holds exactly stay plain; any other number keeps its text', () => {
  assert.deepEqual(parse('[1, -2.5, 1e+21, 0.1, 123]'), [1, -2.5, 1e21, 0.1, 123])
  const kept = parse('[12345678901234567890, 1.0, -0, 1e-400, 1E21, 0.1000000000000000055511151231257827, 1E400]')
  assert.equal(
    JSON.stringify(kept),
    '[12345678901234567890,1.0,-0,1e-400,1E21,0.1000000000000000055511151231257827,1E400]',
  )
})

test('the digit-keeping parse reads whitespace, escapes, literals, duplicate keys and __proto__ as JSON.parse does', () => {
  const text = ' { "a\\"b" : [ 1.0 , "x\\\\\\"" , true , false , null , { } , [ ] ] , "d" : 1 , "d" : 2.50 , "__proto__" : { "p" : -0 } } '
  const kept = parse(text) as JsonObject
  assert.equal(JSON.stringify(kept), '{"a\\"b":[1.0,"x\\\\\\"",true,false,null,{},[]],"d":2.50,"__proto__":{"p":-0}}')
  assert.equal(Object.getPrototypeOf(kept), Object.prototype)
  assert.ok(Object.hasOwn(kept, '__proto__'))
  assert.ok(jsonEqual(kept, JSON.parse(text)), 'equal by value to what JSON.parse reads')
  assert.throws(() => parseJsonKeepingDigits('{"a": 1.0,}'), SyntaxError)
  assert.throws(() => parseJsonKeepingDigits('[01.0]'), SyntaxError)
})

test('the digit-keeping parse, the copy and the ETag cope with 100,000 levels of nesting', () => {
  const depth = 100_000
  const text = `${'['.repeat(depth)}12345678901234567890${']'.repeat(depth)}`
  const parsed = parse(text)
  let node: JsonValue = cloneJson(parsed)
  for (let level = 0; level < depth; level++) node = (node as JsonValue[])[0] as JsonValue
  assert.equal(JSON.stringify(node), '12345678901234567890')
  assert.equal(canonicalJson(parsed), text)
})

test('exact decimal value: -0 is 0, 1.0 is 1, 1e2 is 100, and big integers keep every digit', () => {
  assert.equal(canonicalNumberText(JSON.rawJSON('-0')), '0')
  assert.equal(canonicalNumberText(JSON.rawJSON('-0.000e5')), '0')
  assert.equal(canonicalNumberText(JSON.rawJSON('1.0')), '1')
  assert.equal(canonicalNumberText(JSON.rawJSON('1e2')), '100')
  assert.equal(canonicalNumberText(JSON.rawJSON('0.00012300e-2')), '0.00000123')
  assert.equal(canonicalNumberText(JSON.rawJSON('1E21')), '1e+21')
  assert.equal(canonicalNumberText(JSON.rawJSON('-12.5E-7')), '-0.00000125')
  assert.equal(canonicalNumberText(JSON.rawJSON('1.5e-7')), '1.5e-7')
  assert.equal(canonicalNumberText(JSON.rawJSON('12345678901234567890')), '12345678901234567890')
  assert.equal(canonicalNumberText(JSON.rawJSON('1E400')), '1e+400')
  assert.ok(jsonEqual({ a: [raw('1.0'), raw('-0')] }, { a: [1, 0] }))
  // The double nearest to it, as a lossy parse would have read it.
  assert.ok(!jsonEqual(raw('12345678901234567890'), Number('12345678901234567890')))
  assert.ok(!jsonEqual(raw('1.0'), '1'))
  assert.ok(!jsonEqual(raw('1.0'), { rawJSON: '1.0' }))
})

test('the ETag of ordinary documents is unchanged, and a number spelled differently has the same ETag', () => {
  // The tag of this document before raw numbers existed.
  assert.equal(computeEtag({ a: 1, b: [2.5, 1e21, -0] }), '"C1TFBJc2FVl9iRCTIVYFthnhcENBa7F4eFQrWXv-Npg"')
  assert.equal(computeEtag({ a: raw('1.0'), b: [raw('25e-1'), raw('1E21'), raw('-0')] }), computeEtag({ a: 1, b: [2.5, 1e21, 0] }))
  assert.notEqual(computeEtag({ a: raw('12345678901234567890') }), computeEtag({ a: Number('12345678901234567890') }))
})

test('a raw number is a leaf to every walk: never merged into, never nested, never a key holder', () => {
  const number = raw('12345678901234567890')
  assert.equal(isJsonObject(number), false)
  assert.equal(exceedsDepth({ a: number }, 1), false)
  assert.equal(exceedsDepth({ a: [number] }, 1), true)
  assert.equal(findForbiddenKey({ a: number }), undefined)
  assert.equal((cloneJson({ a: number }) as JsonObject).a, number)
  assert.deepEqual(applyMergePatch({ a: number }, { a: { b: 1 } }), { a: { b: 1 } })
  assert.equal((applyMergePatch({ a: { b: 1 } }, { a: number }) as JsonObject).a, number)
  assert.equal(applyMergePatch({ a: 1 }, number), number)
  assert.deepEqual(summarizeChanges({ a: number, b: { c: raw('1.0') } }), { set: ['/a', '/b/c'], deleted: [], truncated: 0 })
  const merged = mergeMetadata({ events: [{ ts: number }], keep: number } as JsonObject, { note: 'x' })
  assert.equal(JSON.stringify(merged), '{"events":[{"ts":12345678901234567890}],"keep":12345678901234567890,"note":"x"}')
})

test('verification lists every key the write deleted that the answer still holds, at any depth, by path only', () => {
  const before = { gone: 'v', kept: 1, nested: { gone: 'v', deeper: { gone: 'v', kept: 2 } }, replaced: { inner: 'v' }, events: [] }
  const written = { kept: 1, nested: { deeper: { kept: 2 } }, replaced: 'whole', events: [] }
  const check = (returned: unknown) => findWriteMismatches({ written, before, returned, eventsBefore: [], eventsPresentBefore: true })
  assert.deepEqual(check(written), [])
  assert.deepEqual(check(before).sort(), ['/gone', '/nested', '/nested/deeper/gone', '/nested/gone', '/replaced'])
  assert.deepEqual(check({ ...written, gone: null }), ['/gone'])
  // Without `before` (a fraud-only write deletes nothing), only what was written is checked.
  assert.deepEqual(findWriteMismatches({ written: {}, returned: before, eventsBefore: [], eventsPresentBefore: true }), [])
})
