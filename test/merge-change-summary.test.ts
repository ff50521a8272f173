import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MAX_SUMMARY_PATHS, summarizeChanges } from '../src/merge/index.ts'
import type { JsonObject } from '../src/schemas.ts'

test('leaves set and keys deleted are listed as pointers in document order', () => {
  const patch: JsonObject = { a: 1, b: null, c: { d: 'x', e: null }, f: [1, { g: 2 }], h: {}, i: false, j: '' }
  assert.deepStrictEqual(summarizeChanges(patch), {
    set: ['/a', '/c/d', '/f', '/h', '/i', '/j'],
    deleted: ['/b', '/c/e'],
    truncated: 0,
  })
})

test('an empty patch changes nothing', () => {
  assert.deepStrictEqual(summarizeChanges({}), { set: [], deleted: [], truncated: 0 })
})

test('pointers escape ~ and / as RFC 6901 says', () => {
  const patch: JsonObject = { 'a/b': { 'm~n': 1, '~1': null }, '': 2 }
  assert.deepStrictEqual(summarizeChanges(patch), { set: ['/a~1b/m~0n', '/'], deleted: ['/a~1b/~01'], truncated: 0 })
})

test('nested events keys are ordinary paths', () => {
  assert.deepStrictEqual(summarizeChanges({ loyalty: { events: null } }).deleted, ['/loyalty/events'])
})

test('values never appear in the summary', () => {
  const summary = summarizeChanges({ email: 'secret@example.com', card: { pan: '4111111111111111' }, old: null })
  const text = JSON.stringify(summary)
  assert.ok(!text.includes('secret@example.com'))
  assert.ok(!text.includes('4111'))
})

test('each list keeps at most 1000 pointers and counts the rest', () => {
  const patch: JsonObject = {}
  for (let index = 0; index < 10_000; index++) patch[`k${index}`] = index
  const summary = summarizeChanges(patch)
  assert.equal(MAX_SUMMARY_PATHS, 1000)
  assert.equal(summary.set.length, 1000)
  assert.equal(summary.set[0], '/k0')
  assert.equal(summary.set[999], '/k999')
  assert.equal(summary.truncated, 9000)
})

test('truncation counts both lists', () => {
  const patch: JsonObject = {}
  for (let index = 0; index < 1500; index++) {
    patch[`s${index}`] = true
    patch[`d${index}`] = null
  }
  const summary = summarizeChanges(patch)
  assert.equal(summary.set.length, 1000)
  assert.equal(summary.deleted.length, 1000)
  assert.equal(summary.truncated, 1000)
})
