import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FORBIDDEN_KEYS, exceedsDepth, findForbiddenKey, hasReservedKey, mergeMetadata } from '../src/merge/index.ts'
import type { JsonObject } from '../src/schemas.ts'

const parse = (text: string): JsonObject => JSON.parse(text) as JsonObject

function nestArrays(levels: number): unknown {
  let value: unknown = []
  for (let level = 1; level < levels; level++) value = [value]
  return value
}

test('the forbidden keys are __proto__, constructor and prototype', () => {
  assert.deepStrictEqual([...FORBIDDEN_KEYS], ['__proto__', 'constructor', 'prototype'])
})

test('a forbidden key is found at the top level, one level down and deep', () => {
  assert.equal(findForbiddenKey(parse('{"__proto__":{}}')), '/__proto__')
  assert.equal(findForbiddenKey({ constructor: 1 }), '/constructor')
  assert.equal(findForbiddenKey({ metadata: { prototype: 'x' } }), '/metadata/prototype')
  assert.equal(findForbiddenKey(parse('{"metadata":{"a":{"b":{"__proto__":1}}}}')), '/metadata/a/b/__proto__')
})

test('a forbidden key is found inside arrays, with array indices in the pointer', () => {
  assert.equal(findForbiddenKey({ a: [{ b: 1 }, [{ constructor: {} }]] }), '/a/1/0/constructor')
  assert.equal(findForbiddenKey([parse('{"__proto__":null}')]), '/0/__proto__')
})

test('the first forbidden key in document order is reported, with RFC 6901 escaping', () => {
  assert.equal(findForbiddenKey(parse('{"a/b":{"m~n":{"prototype":1}},"constructor":1}')), '/a~1b/m~0n/prototype')
})

test('clean values, similar keys and forbidden words as values pass', () => {
  assert.equal(findForbiddenKey({ Constructor: 1, proto: 2, __proto: 3, a: ['__proto__', 'constructor'] }), undefined)
  assert.equal(findForbiddenKey('prototype'), undefined)
  assert.equal(findForbiddenKey(null), undefined)
  assert.equal(findForbiddenKey({}), undefined)
})

test('mergeMetadata with a raw JSON.parse __proto__ patch pollutes no prototype', () => {
  const merged = mergeMetadata({ a: 1 }, parse('{"__proto__":{"isAdmin":true},"b":{"__proto__":{"isAdmin":true}}}'))
  assert.equal(Object.getPrototypeOf(merged), Object.prototype)
  assert.equal(Object.getPrototypeOf(merged.b), Object.prototype)
  assert.equal(({} as Record<string, unknown>).isAdmin, undefined)
  assert.equal((merged as Record<string, unknown>).isAdmin, undefined)
})

test('depth counts metadata as 1 and each nested object or array as one more', () => {
  assert.equal(exceedsDepth({}, 1), false)
  assert.equal(exceedsDepth({ a: 1, b: 'x' }, 1), false)
  assert.equal(exceedsDepth({ a: {} }, 1), true)
  assert.equal(exceedsDepth({}, 0), true)
  assert.equal(exceedsDepth('scalar', 0), false)
})

test('depth exactly at the limit passes and one more level fails', () => {
  const atLimit = { a: { b: [{ c: 1 }] } }
  assert.equal(exceedsDepth(atLimit, 4), false)
  assert.equal(exceedsDepth({ a: { b: [{ c: [] }] } }, 4), true)
  assert.equal(exceedsDepth(nestArrays(32), 32), false)
  assert.equal(exceedsDepth(nestArrays(33), 32), true)
})

test('100,000 nested arrays cause no stack overflow in the guards', () => {
  const deep = nestArrays(100_000)
  assert.equal(exceedsDepth(deep, 32), true)
  assert.equal(findForbiddenKey(deep), undefined)
  const parsed: unknown = JSON.parse(`${'['.repeat(100_000)}{"__proto__":1}${']'.repeat(100_000)}`)
  assert.equal(findForbiddenKey(parsed), `${'/0'.repeat(100_000)}/__proto__`)
})

test('only a top-level events key is reserved', () => {
  assert.equal(hasReservedKey({ events: null }), true)
  assert.equal(hasReservedKey({ loyalty: { events: [] } }), false)
  assert.equal(hasReservedKey({}), false)
})

test('mergeMetadata keeps the current events whatever the patch says', () => {
  const events = [{ eventId: 'e1', metadata: { a: 1 } }]
  assert.deepStrictEqual(mergeMetadata({ events, x: 1 }, { events: null, x: 2 }), { events, x: 2 })
  assert.deepStrictEqual(mergeMetadata({ events }, { events: [] }), { events })
  assert.deepStrictEqual(mergeMetadata({ x: 1 }, { events: [{ eventId: 'forged' }] }), { x: 1 })
  assert.deepStrictEqual(mergeMetadata({ events: 'opaque' }, { events: { a: 1 } }), { events: 'opaque' })
})

test('mergeMetadata treats nested events keys as ordinary keys', () => {
  const merged = mergeMetadata({ loyalty: { events: [1] } }, { loyalty: { events: null, tier: 'gold' } })
  assert.deepStrictEqual(merged, { loyalty: { tier: 'gold' } })
})

test('mergeMetadata returns events that do not alias the current ones', () => {
  const current: JsonObject = { events: [{ eventId: 'e1' }] }
  const merged = mergeMetadata(current, { a: 1 })
  ;(merged.events as JsonObject[]).push({ eventId: 'e2' })
  assert.deepStrictEqual(current, { events: [{ eventId: 'e1' }] })
})
