import type { JsonObject, JsonValue } from '../schemas.ts'
import { escapePointerToken } from './json-pointer.ts'
import { isJsonObject } from './json-tree.ts'

/** A patch may hold ~10,000 keys within the body limit; an audit line keeps the first ones and a count. */
export const MAX_SUMMARY_PATHS = 1000

export interface ChangeSummary {
  /** RFC 6901 pointers, relative to `metadata`, of the leaves the patch writes. */
  set: string[]
  /** Pointers of the keys the patch deletes with `null` (RFC 7396 §2). */
  deleted: string[]
  /** How many pointers were left out of both lists by MAX_SUMMARY_PATHS. */
  truncated: number
}

/**
 * What a metadata patch touches, as paths only: values may hold personal data and are never copied here
 * (docs/operations.md#audit-lines). Leaves are scalars, arrays (RFC 7396 replaces them whole) and empty objects, which create or
 * keep an object at their path. Listed in document order; walks an explicit stack.
 */
export function summarizeChanges(metadataPatch: JsonObject): ChangeSummary {
  const summary: ChangeSummary = { set: [], deleted: [], truncated: 0 }
  const pending: Array<[string, JsonValue]> = []
  const pushMembers = (pointer: string, node: JsonObject): void => {
    const keys = Object.keys(node)
    for (let index = keys.length - 1; index >= 0; index--) {
      const key = keys[index] as string
      pending.push([`${pointer}/${escapePointerToken(key)}`, node[key] as JsonValue])
    }
  }
  pushMembers('', metadataPatch)
  for (let entry = pending.pop(); entry !== undefined; entry = pending.pop()) {
    const [pointer, value] = entry
    if (isJsonObject(value) && Object.keys(value).length > 0) {
      pushMembers(pointer, value)
      continue
    }
    const list = value === null ? summary.deleted : summary.set
    if (list.length < MAX_SUMMARY_PATHS) list.push(pointer)
    else summary.truncated++
  }
  return summary
}
