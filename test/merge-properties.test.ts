import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { applyMergePatch, canonicalJson, computeEtag, jsonEqual, mergeMetadata } from '../src/merge/index.ts'
import type { JsonObject, JsonValue } from '../src/schemas.ts'

// Keys the merge must treat specially (or must not): the reserved one, the prototype ones, pointer metacharacters.
const key = fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('a', 'b', 'events', '__proto__', 'constructor', 'a/b', '~'))
const json: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom<JsonValue>(null, true, false, 0, -0, 1, 'x'),
    fc.jsonValue({ maxDepth: 1 }) as fc.Arbitrary<JsonValue>,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value
// A patch: values are null (delete) more often than in arbitrary JSON.
const patchValue: fc.Arbitrary<JsonValue> = fc.oneof(fc.constant(null), json)
const object = fc.dictionary(key, json, { maxKeys: 6, noNullPrototype: true }) as fc.Arbitrary<JsonObject>
const patchObject = fc.dictionary(key, patchValue, { maxKeys: 6, noNullPrototype: true }) as fc.Arbitrary<JsonObject>

/** RFC 7396 §2 pseudocode, transcribed recursively, as the reference for the iterative implementation. */
function referenceMergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch
  const base = typeof target === 'object' && target !== null && !Array.isArray(target) ? target : {}
  const result: JsonObject = {}
  for (const name of Object.keys(base)) Object.defineProperty(result, name, { value: base[name], enumerable: true, writable: true, configurable: true })
  for (const name of Object.keys(patch)) {
    const value = patch[name] as JsonValue
    if (value === null) delete result[name]
    else {
      const merged = referenceMergePatch(Object.hasOwn(result, name) ? result[name] : undefined, value)
      Object.defineProperty(result, name, { value: merged, enumerable: true, writable: true, configurable: true })
    }
  }
  return result
}

/** Reverses every object's key order; the generated values are shallow enough for JSON.stringify's recursion. */
function reverseKeys(value: JsonValue): JsonValue {
  return JSON.parse(JSON.stringify(value, (_name, node: unknown) =>
    typeof node === 'object' && node !== null && !Array.isArray(node)
      ? Object.fromEntries(Object.entries(node).reverse())
      : node,
  )) as JsonValue
}

test('applyMergePatch agrees with the RFC 7396 pseudocode', () => {
  fc.assert(fc.property(fc.option(json, { nil: undefined }), fc.oneof(patchObject, json), (target, patch) => {
    assert.deepStrictEqual(applyMergePatch(target, patch), referenceMergePatch(target, patch))
  }), { numRuns: 500 })
})

test('applying a patch twice is the same as applying it once', () => {
  fc.assert(fc.property(json, fc.oneof(patchObject, json), (target, patch) => {
    const once = applyMergePatch(target, patch)
    assert.deepStrictEqual(applyMergePatch(once, patch), once)
  }), { numRuns: 500 })
})

test('keys the patch does not name are kept exactly', () => {
  fc.assert(fc.property(object, patchObject, (current, patch) => {
    const merged = mergeMetadata(current, patch)
    for (const name of Object.keys(current)) {
      if (Object.hasOwn(patch, name)) continue
      assert.ok(Object.hasOwn(merged, name))
      assert.deepStrictEqual(merged[name], current[name])
    }
    for (const name of Object.keys(merged)) assert.ok(Object.hasOwn(current, name) || Object.hasOwn(patch, name))
  }), { numRuns: 500 })
})

test('events are always preserved by mergeMetadata, present or absent', () => {
  const withMaybeEvents = (base: fc.Arbitrary<JsonObject>, events: fc.Arbitrary<JsonValue>) =>
    fc.tuple(base, fc.option(events, { nil: undefined })).map(([value, maybe]) => {
      const copy = structuredClone(value)
      delete copy.events
      if (maybe !== undefined) Object.defineProperty(copy, 'events', { value: maybe, enumerable: true, writable: true, configurable: true })
      return copy
    })
  fc.assert(fc.property(withMaybeEvents(object, json), withMaybeEvents(patchObject, patchValue), (current, patch) => {
    const merged = mergeMetadata(current, patch)
    assert.equal(Object.hasOwn(merged, 'events'), Object.hasOwn(current, 'events'))
    if (Object.hasOwn(current, 'events')) assert.deepStrictEqual(merged.events, current.events)
  }), { numRuns: 500 })
})

test('inputs are never mutated, and mutating the result changes neither input', () => {
  fc.assert(fc.property(fc.oneof(object, json), fc.oneof(patchObject, json), (target, patch) => {
    const targetBefore = structuredClone(target)
    const patchBefore = structuredClone(patch)
    const merged = applyMergePatch(target, patch)
    assert.deepStrictEqual(target, targetBefore)
    assert.deepStrictEqual(patch, patchBefore)
    scribble(merged)
    assert.deepStrictEqual(target, targetBefore)
    assert.deepStrictEqual(patch, patchBefore)
  }), { numRuns: 500 })
})

/** Mutates every container in a tree, iteratively. */
function scribble(value: JsonValue): void {
  const pending: JsonValue[] = [value]
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    if (typeof node !== 'object' || node === null) continue
    pending.push(...Object.values(node))
    if (Array.isArray(node)) node.push('scribbled')
    else node.scribbled = true
  }
}

test('canonical JSON and the ETag do not depend on key order', () => {
  fc.assert(fc.property(json, (value) => {
    const reordered = reverseKeys(value)
    assert.equal(canonicalJson(reordered), canonicalJson(value))
    assert.equal(computeEtag(reordered), computeEtag(value))
  }), { numRuns: 500 })
})

test('values equal as JSON have equal ETags, and canonical JSON round-trips', () => {
  fc.assert(fc.property(json, (value) => {
    const copy = JSON.parse(JSON.stringify(value)) as JsonValue
    assert.ok(jsonEqual(copy, value))
    assert.equal(computeEtag(copy), computeEtag(value))
    assert.ok(jsonEqual(JSON.parse(canonicalJson(value)), value))
  }), { numRuns: 500 })
})

test('jsonEqual agrees with canonical JSON equality', () => {
  fc.assert(fc.property(json, json, (a, b) => {
    assert.equal(jsonEqual(a, b), canonicalJson(a) === canonicalJson(b))
  }), { numRuns: 500 })
  assert.equal(jsonEqual(-0, 0), true)
})
