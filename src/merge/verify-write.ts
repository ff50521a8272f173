import type { JsonObject, JsonValue } from '../schemas.ts'
import { canonicalJson } from './etag.ts'
import { EVENTS_KEY } from './guards.ts'
import { jsonEqual } from './json-equal.ts'
import { formatPointer } from './json-pointer.ts'
import { isJsonObject } from './json-tree.ts'

export interface WriteCheck {
  /** The full metadata object the proxy sent. */
  written: JsonObject
  /**
   * The metadata as read, when the write carried metadata: keys it holds that `written` lacks (at any depth)
   * were deleted by the write, and must be gone from the response too.
   */
  before?: JsonObject
  /** `metadata` from AiFi's PATCH response, unvalidated. */
  returned: unknown
  /** `events` as read before the write; meaningful only when eventsPresentBefore. */
  eventsBefore: unknown
  eventsPresentBefore: boolean
}

/**
 * docs/consistency.md#verification: the response must hold every top-level key written, with a JSON-equal value,
 * lack every key the write deleted, and hold every event present before the write. `events` is checked by containment rather than equality because AiFi
 * may append an event of its own. Returns RFC 6901 pointers, never values; an empty list means verified.
 */
export function findWriteMismatches(input: WriteCheck): string[] {
  const { written, returned } = input
  if (!isJsonObject(returned)) return ['']
  const mismatches: string[] = []
  for (const key of Object.keys(written)) {
    if (key === EVENTS_KEY) continue
    if (!Object.hasOwn(returned, key) || !jsonEqual(written[key], returned[key])) mismatches.push(formatPointer([key]))
  }
  if (input.before !== undefined) {
    for (const path of findDeletedPaths(input.before, written)) {
      if (holdsPath(returned, path)) mismatches.push(formatPointer(path))
    }
  }
  if (input.eventsPresentBefore) {
    mismatches.push(...findLostEvents(input.eventsBefore, returned))
  } else if (Object.hasOwn(written, EVENTS_KEY)) {
    mismatches.push(...findLostEvents(written[EVENTS_KEY], returned))
  }
  return mismatches
}

/**
 * Keys present before the write and absent from what was written, wherever both hold an object at the same
 * path (a key under a value the write replaced whole is covered by that value's own check). `events` is checked
 * by containment instead. Iterative, because upstream metadata is not depth-checked.
 */
function findDeletedPaths(before: JsonObject, written: JsonObject): string[][] {
  const deleted: string[][] = []
  const pending: Array<[JsonObject, JsonObject, string[]]> = [[before, written, []]]
  for (let entry = pending.pop(); entry !== undefined; entry = pending.pop()) {
    const [old, now, path] = entry
    for (const key of Object.keys(old)) {
      if (path.length === 0 && key === EVENTS_KEY) continue
      const oldValue = old[key]
      if (!Object.hasOwn(now, key)) deleted.push([...path, key])
      else if (isJsonObject(oldValue) && isJsonObject(now[key])) pending.push([oldValue, now[key], [...path, key]])
    }
  }
  return deleted
}

function holdsPath(root: JsonObject, path: readonly string[]): boolean {
  let node: unknown = root
  for (const key of path) {
    if (!isJsonObject(node) || !Object.hasOwn(node, key)) return false
    node = node[key]
  }
  return true
}

/**
 * An array of events must survive item by item, as a multiset (a duplicated event must survive twice);
 * anything else AiFi stored there is opaque (docs/aifi-upstream.md#events) and must come back JSON-equal.
 */
function findLostEvents(expected: unknown, returned: JsonObject): string[] {
  const eventsPointer = formatPointer([EVENTS_KEY])
  if (!Object.hasOwn(returned, EVENTS_KEY)) return [eventsPointer]
  const actual = returned[EVENTS_KEY]
  if (!Array.isArray(expected)) return jsonEqual(expected, actual) ? [] : [eventsPointer]
  if (!Array.isArray(actual)) return [eventsPointer]

  // Canonical JSON equality is jsonEqual, and counting by it keeps this linear in the number of events.
  const available = new Map<string, number>()
  for (const event of actual) {
    const key = canonicalJson(event)
    available.set(key, (available.get(key) ?? 0) + 1)
  }
  const lost: string[] = []
  expected.forEach((event: unknown, index) => {
    const key = canonicalJson(event as JsonValue)
    const count = available.get(key) ?? 0
    if (count > 0) available.set(key, count - 1)
    else lost.push(formatPointer([EVENTS_KEY, String(index)]))
  })
  return lost
}
