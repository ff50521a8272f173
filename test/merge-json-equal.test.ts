import { test } from 'node:test'
import assert from 'node:assert/strict'
import { jsonEqual } from '../src/merge/index.ts'

test('-0 equals 0, at the top and nested', () => {
  assert.equal(jsonEqual(-0, 0), true)
  assert.equal(jsonEqual({ a: [-0] }, { a: [0] }), true)
})

test('object key order does not matter, array order does', () => {
  assert.equal(jsonEqual({ a: 1, b: { c: 2, d: 3 } }, { b: { d: 3, c: 2 }, a: 1 }), true)
  assert.equal(jsonEqual([1, 2], [2, 1]), false)
})

test('types, lengths and keys must agree', () => {
  assert.equal(jsonEqual({}, []), false)
  assert.equal(jsonEqual([], {}), false)
  assert.equal(jsonEqual({ '0': 1 }, [1]), false)
  assert.equal(jsonEqual([1], [1, 2]), false)
  assert.equal(jsonEqual({ a: 1 }, { b: 1 }), false)
  assert.equal(jsonEqual({ a: null }, {}), false)
  assert.equal(jsonEqual(1, '1'), false)
  assert.equal(jsonEqual(null, {}), false)
  assert.equal(jsonEqual(null, null), true)
})

test('an own __proto__ key is compared as an ordinary key', () => {
  assert.equal(jsonEqual(JSON.parse('{"__proto__":1}'), {}), false)
  assert.equal(jsonEqual(JSON.parse('{"__proto__":1}'), JSON.parse('{"__proto__":1}')), true)
  assert.equal(jsonEqual(JSON.parse('{"__proto__":1}'), JSON.parse('{"__proto__":2}')), false)
})

test('100,000 levels of nesting compare without a stack overflow', () => {
  const nest = (leaf: number): unknown => {
    let value: unknown = leaf
    for (let level = 0; level < 100_000; level++) value = { a: [value] }
    return value
  }
  assert.equal(jsonEqual(nest(1), nest(1)), true)
  assert.equal(jsonEqual(nest(1), nest(2)), false)
})
