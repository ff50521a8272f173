import { test } from 'node:test'
import assert from 'node:assert/strict'
import { applyMergePatch } from '../src/merge/index.ts'
import type { JsonValue } from '../src/schemas.ts'

// RFC 7396 Appendix A, every row: [original, patch, result].
const APPENDIX_A: Array<[string, string, string]> = [
  ['{"a":"b"}', '{"a":"c"}', '{"a":"c"}'],
  ['{"a":"b"}', '{"b":"c"}', '{"a":"b","b":"c"}'],
  ['{"a":"b"}', '{"a":null}', '{}'],
  ['{"a":"b","b":"c"}', '{"a":null}', '{"b":"c"}'],
  ['{"a":["b"]}', '{"a":"c"}', '{"a":"c"}'],
  ['{"a":"c"}', '{"a":["b"]}', '{"a":["b"]}'],
  ['{"a":{"b":"c"}}', '{"a":{"b":"d","c":null}}', '{"a":{"b":"d"}}'],
  ['{"a":[{"b":"c"}]}', '{"a":[1]}', '{"a":[1]}'],
  ['["a","b"]', '["c","d"]', '["c","d"]'],
  ['{"a":"b"}', '["c"]', '["c"]'],
  ['{"a":"foo"}', 'null', 'null'],
  ['{"a":"foo"}', '"bar"', '"bar"'],
  ['{"e":null}', '{"a":1}', '{"e":null,"a":1}'],
  ['[1,2]', '{"a":"b","c":null}', '{"a":"b"}'],
  ['{}', '{"a":{"bb":{"ccc":null}}}', '{"a":{"bb":{}}}'],
]

for (const [original, patch, expected] of APPENDIX_A) {
  test(`RFC 7396 Appendix A: ${original} patched with ${patch} gives ${expected}`, () => {
    const result = applyMergePatch(JSON.parse(original) as JsonValue, JSON.parse(patch) as JsonValue)
    assert.deepStrictEqual(result, JSON.parse(expected))
  })
}

test('an absent target is treated as not an object', () => {
  assert.deepStrictEqual(applyMergePatch(undefined, { a: { b: null, c: 1 } }), { a: { c: 1 } })
  assert.deepStrictEqual(applyMergePatch(undefined, [1]), [1])
})

test('the result shares no containers with the patch or the target', () => {
  const target: JsonValue = { keep: { deep: [1] }, replace: 1 }
  const patch: JsonValue = { replace: { inner: [2] }, list: [{ x: 1 }] }
  const result = applyMergePatch(target, patch) as Record<string, Record<string, JsonValue[]>>
  result.replace!.inner!.push(3)
  ;(result.list as unknown as Array<Record<string, number>>)[0]!.x = 9
  result.keep!.deep!.push(4)
  assert.deepStrictEqual(patch, { replace: { inner: [2] }, list: [{ x: 1 }] })
  assert.deepStrictEqual(target, { keep: { deep: [1] }, replace: 1 })
})

test('a __proto__ key in the patch becomes an own key and changes no prototype', () => {
  const patch = JSON.parse('{"__proto__":{"polluted":true},"a":{"__proto__":{"polluted":true}}}') as JsonValue
  const result = applyMergePatch({ a: {} }, patch) as Record<string, unknown>
  assert.equal(Object.getPrototypeOf(result), Object.prototype)
  assert.equal(Object.getPrototypeOf(result.a), Object.prototype)
  assert.ok(Object.hasOwn(result, '__proto__'))
  assert.deepStrictEqual(Object.getOwnPropertyDescriptor(result, '__proto__')?.value, { polluted: true })
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
  assert.equal((result.a as Record<string, unknown>).polluted, undefined)
})

test('a scalar or array under __proto__ becomes an own key, not a prototype', () => {
  for (const text of ['{"__proto__":[1]}', '{"__proto__":"x"}', '{"a":{"__proto__":[{"polluted":true}]}}']) {
    const patch = JSON.parse(text) as JsonValue
    const result = applyMergePatch({ a: {} }, patch) as Record<string, object>
    assert.equal(Object.getPrototypeOf(result), Object.prototype, text)
    assert.equal(Object.getPrototypeOf(result.a), Object.prototype, text)
    assert.deepStrictEqual(JSON.parse(JSON.stringify(result)), { a: {}, ...(JSON.parse(text) as object) })
  }
})

test('constructor and prototype keys in the patch touch no prototype', () => {
  const patch = JSON.parse('{"constructor":{"prototype":{"polluted":true}},"prototype":{"polluted":true}}') as JsonValue
  const result = applyMergePatch({}, patch) as Record<string, unknown>
  assert.deepStrictEqual(result.constructor, { prototype: { polluted: true } })
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
  assert.equal(Object.prototype.constructor, Object)
})

test('a null __proto__ in the patch deletes only an own __proto__ key', () => {
  const target = JSON.parse('{"__proto__":{"x":1},"b":2}') as JsonValue
  const removed = applyMergePatch(target, JSON.parse('{"__proto__":null}') as JsonValue)
  assert.deepStrictEqual(Object.keys(removed as object), ['b'])
  assert.equal(Object.getPrototypeOf(removed), Object.prototype)
  const untouched = applyMergePatch({ b: 2 }, JSON.parse('{"__proto__":null}') as JsonValue)
  assert.equal(Object.getPrototypeOf(untouched), Object.prototype)
})

test('a target nested 100,000 levels deep is merged without a stack overflow', () => {
  let deep: JsonValue = { leaf: true }
  for (let level = 0; level < 100_000; level++) deep = { d: deep }
  const result = applyMergePatch({ deep }, { added: 1 }) as Record<string, JsonValue>
  assert.equal(result.added, 1)
  assert.notEqual(result.deep, deep)
})
