import { test } from 'node:test'
import assert from 'node:assert/strict'
import { canonicalJson, computeEtag, jsonEqual, matchesIfMatch } from '../src/merge/index.ts'
import type { JsonValue } from '../src/schemas.ts'

const current = computeEtag({ loyalty: { tier: 'gold' }, events: [{ eventId: 'e1' }] })
const other = computeEtag({ loyalty: { tier: 'silver' } })

test('canonical JSON sorts keys at every level and has no whitespace', () => {
  const value = { b: 1, a: [true, null, { d: 'x', c: 2.5 }], '': {} }
  assert.equal(canonicalJson(value), '{"":{},"a":[true,null,{"c":2.5,"d":"x"}],"b":1}')
})

test('canonical JSON sorts keys by UTF-16 code units, integer-like keys included', () => {
  const value = { b: 0, '9': 0, '10': 0, B: 0, é: 0, '\u{1F600}': 0, '\uFF61': 0 }
  assert.equal(canonicalJson(value), '{"10":0,"9":0,"B":0,"b":0,"é":0,"\u{1F600}":0,"\uFF61":0}')
})

test('canonical JSON writes -0 as 0 and escapes strings as JSON does', () => {
  assert.equal(canonicalJson({ z: -0, s: 'quote " slash \\ line\n' }), '{"s":"quote \\" slash \\\\ line\\n","z":0}')
  assert.equal(canonicalJson(-0), '0')
  assert.equal(canonicalJson([1e21, 0.1, -5]), '[1e+21,0.1,-5]')
})

test('canonical JSON parses back to an equal value', () => {
  const value: JsonValue = { a: [{ b: null }, 'x', 3], c: { d: false } }
  assert.ok(jsonEqual(JSON.parse(canonicalJson(value)), value))
})

test('an ETag is a quoted base64url SHA-256', () => {
  assert.match(current, /^"[A-Za-z0-9_-]{43}"$/)
})

test('absent, null and empty metadata share one ETag', () => {
  assert.equal(computeEtag(undefined), computeEtag({}))
  assert.equal(computeEtag(null), computeEtag({}))
})

test('the ETag ignores key order and the sign of zero, and sees every change, events included', () => {
  assert.equal(computeEtag({ a: 1, b: { c: 0 } }), computeEtag({ b: { c: -0 }, a: 1 }))
  assert.notEqual(computeEtag({ a: 1 }), computeEtag({ a: '1' }))
  assert.notEqual(computeEtag({ a: [1, 2] }), computeEtag({ a: [2, 1] }))
  const events = [{ eventId: 'e1' }]
  assert.notEqual(computeEtag({ events }), computeEtag({ events: [...events, { eventId: 'e2' }] }))
})

test('canonical JSON and the ETag cope with 100,000 levels of nesting', () => {
  let deep: JsonValue = []
  for (let level = 0; level < 100_000; level++) deep = [deep]
  assert.equal(canonicalJson(deep).length, 200_002)
  assert.match(computeEtag({ deep }), /^"[A-Za-z0-9_-]{43}"$/)
})

test('If-Match * matches any current ETag', () => {
  assert.equal(matchesIfMatch('*', current), true)
  assert.equal(matchesIfMatch(' \t* ', current), true)
})

test('If-Match matches the exact strong tag, alone or anywhere in a list', () => {
  assert.equal(matchesIfMatch(current, current), true)
  assert.equal(matchesIfMatch(`${other}, ${current}`, current), true)
  assert.equal(matchesIfMatch(`${other},${current}`, current), true)
  assert.equal(matchesIfMatch(`${current} ,${other}`, current), true)
  assert.equal(matchesIfMatch(other, current), false)
  assert.equal(matchesIfMatch(`${other}, "abc"`, current), false)
})

test('If-Match tolerates optional whitespace and empty list members', () => {
  assert.equal(matchesIfMatch(` \t${current}\t `, current), true)
  assert.equal(matchesIfMatch(`, ,${other} , , ${current},`, current), true)
})

test('If-Match never matches a weak tag (strong comparison)', () => {
  assert.equal(matchesIfMatch(`W/${current}`, current), false)
  assert.equal(matchesIfMatch(`W/${other}, W/${current}`, current), false)
  assert.equal(matchesIfMatch(`w/${current}`, current), false)
})

test('If-Match with garbage matches nothing, and a malformed member does not spoil the others', () => {
  for (const header of ['', ' ', 'garbage', current.slice(1, -1), current.slice(0, -1), `"${current}"`, '**', '*, *', `"a b"`]) {
    assert.equal(matchesIfMatch(header, current), false, header)
  }
  assert.equal(matchesIfMatch(`garbage, ${current}`, current), true)
  assert.equal(matchesIfMatch(`*, ${current}`, current), true)
  assert.equal(matchesIfMatch(`"a,b", ${current}`, current), true)
  assert.equal(matchesIfMatch('"abc"', '"ABC"'), false)
})

test('If-Match handles a long header of whitespace in linear time', () => {
  const header = `"a${' '.repeat(100_000)}b", ${' '.repeat(100_000)}x${' '.repeat(100_000)}`
  assert.equal(matchesIfMatch(header, current), false)
})
