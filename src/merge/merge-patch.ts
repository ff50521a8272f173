import type { JsonObject, JsonValue } from '../schemas.ts'
import { cloneJson, getOwn, isJsonObject, setOwn } from './json-tree.ts'

/**
 * JSON Merge Patch, RFC 7396 §2. The RFC's pseudocode recurses; this walks an explicit stack instead, and it
 * merges into a fresh copy of the target so that neither input is mutated and the result aliases nothing
 * (a later change to the result, the target or the patch cannot leak into another).
 */
export function applyMergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  // §2: a patch that is not an object replaces the target whole; arrays are not merged element-wise.
  if (!isJsonObject(patch)) return cloneJson(patch)

  // §2: "If Target is not an Object: Target = {}".
  const result: JsonObject = isJsonObject(target) ? (cloneJson(target) as JsonObject) : {}
  const pending: Array<[JsonObject, JsonObject]> = [[result, patch]]
  for (let pair = pending.pop(); pair !== undefined; pair = pending.pop()) {
    const [into, changes] = pair
    for (const key of Object.keys(changes)) {
      const change = changes[key] as JsonValue
      if (change === null) {
        // `delete` removes an own key only, so an absent `__proto__` key leaves the prototype alone.
        if (Object.hasOwn(into, key)) delete into[key]
      } else if (isJsonObject(change)) {
        // `into` belongs to the fresh result, so merging into it in place is safe.
        const existing = getOwn(into, key)
        const child: JsonObject = isJsonObject(existing) ? existing : {}
        if (child !== existing) setOwn(into, key, child)
        pending.push([child, change])
      } else {
        setOwn(into, key, cloneJson(change))
      }
    }
  }
  return result
}
