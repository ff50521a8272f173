import { test } from 'node:test'
import assert from 'node:assert/strict'
import { findWriteMismatches } from '../src/merge/index.ts'
import type { JsonObject } from '../src/schemas.ts'

const events: JsonObject[] = [{ eventId: 'e1', metadata: { a: 1 } }, { eventId: 'e2', metadata: {} }]
const written: JsonObject = { loyalty: { tier: 'gold', points: 0 }, note: 'x', events }

function check(returned: unknown, overrides: Partial<Parameters<typeof findWriteMismatches>[0]> = {}): string[] {
  return findWriteMismatches({ written, returned, eventsBefore: events, eventsPresentBefore: true, ...overrides })
}

test('a response holding what was written verifies', () => {
  assert.deepStrictEqual(check(structuredClone(written)), [])
})

test('key order, the sign of zero and extra keys do not matter', () => {
  const returned = { extra: 1, events, note: 'x', loyalty: { points: -0, tier: 'gold' } }
  assert.deepStrictEqual(check(returned), [])
})

test('a missing or different top-level key is reported by pointer, never by value', () => {
  assert.deepStrictEqual(check({ events, loyalty: { tier: 'gold', points: 1 } }), ['/loyalty', '/note'])
  const slashed = findWriteMismatches({ written: { 'a/b': 1 }, returned: {}, eventsBefore: undefined, eventsPresentBefore: false })
  assert.deepStrictEqual(slashed, ['/a~1b'])
})

test('a response whose metadata is not an object fails at the root', () => {
  for (const returned of [undefined, null, 'x', 1, [written]]) assert.deepStrictEqual(check(returned), [''])
})

test('events AiFi appended during the write are fine', () => {
  assert.deepStrictEqual(check({ ...written, events: [...events, { eventId: 'e3' }] }), [])
  assert.deepStrictEqual(check({ ...written, events: [{ eventId: 'e0' }, ...events] }), [])
})

test('a lost event is reported by its index before the write', () => {
  assert.deepStrictEqual(check({ ...written, events: [events[0]] }), ['/events/1'])
  assert.deepStrictEqual(check({ ...written, events: [] }), ['/events/0', '/events/1'])
})

test('events that vanished or stopped being an array are reported once', () => {
  const withoutEvents = { ...written }
  delete withoutEvents.events
  assert.deepStrictEqual(check(withoutEvents), ['/events'])
  assert.deepStrictEqual(check({ ...written, events: { a: 1 } }), ['/events'])
})

test('a duplicated event must survive twice', () => {
  const twice = [{ eventId: 'e1' }, { eventId: 'e1' }]
  const result = findWriteMismatches({ written: { events: twice }, returned: { events: [twice[0]] }, eventsBefore: twice, eventsPresentBefore: true })
  assert.deepStrictEqual(result, ['/events/1'])
})

test('events that are not an array must come back equal as JSON', () => {
  const input = { written: { events: 'opaque' }, eventsBefore: 'opaque', eventsPresentBefore: true }
  assert.deepStrictEqual(findWriteMismatches({ ...input, returned: { events: 'opaque' } }), [])
  assert.deepStrictEqual(findWriteMismatches({ ...input, returned: { events: 'other' } }), ['/events'])
  assert.deepStrictEqual(findWriteMismatches({ ...input, returned: {} }), ['/events'])
  const nulls = { written: { events: null }, eventsBefore: null, eventsPresentBefore: true }
  assert.deepStrictEqual(findWriteMismatches({ ...nulls, returned: { events: null } }), [])
  assert.deepStrictEqual(findWriteMismatches({ ...nulls, returned: {} }), ['/events'])
})

test('without events before the write, events AiFi added are fine', () => {
  const result = findWriteMismatches({ written: { a: 1 }, returned: { a: 1, events: [{ eventId: 'new' }] }, eventsBefore: undefined, eventsPresentBefore: false })
  assert.deepStrictEqual(result, [])
})

test('event items compare as JSON: key order and the sign of zero do not matter', () => {
  const before = [{ eventId: 'e1', metadata: { n: 0 } }]
  const returned = { events: [{ metadata: { n: -0 }, eventId: 'e1' }] }
  assert.deepStrictEqual(findWriteMismatches({ written: { events: before }, returned, eventsBefore: before, eventsPresentBefore: true }), [])
})
