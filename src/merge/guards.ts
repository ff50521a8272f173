import type { JsonObject, JsonValue } from '../schemas.ts'
import { formatPointer } from './json-pointer.ts'
import { applyMergePatch } from './merge-patch.ts'
import { cloneJson, isJsonObject, setOwn } from './json-tree.ts'

/** Keys that reach prototypes when code elsewhere assigns or merges naively (rejected anywhere: docs/http-api.md#reserved-and-forbidden-keys). */
export const FORBIDDEN_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype']

/** AiFi appends its ThirdParty and Handoff events under this top-level metadata key (docs/aifi-upstream.md#events). */
export const EVENTS_KEY = 'events'

interface Visit {
  value: unknown
  key: string
  parent: Visit | undefined
}

/**
 * The RFC 6901 pointer of the first forbidden key in document order, the top level included. Object.keys sees
 * the own `__proto__` keys JSON.parse creates, where `in` or a plain read would see the inherited accessor.
 * Iterative: a 256 KiB body nests deeper than the call stack. Paths are built only for the hit, from parent links.
 */
export function findForbiddenKey(value: unknown): string | undefined {
  const pending: Visit[] = [{ value, key: '', parent: undefined }]
  for (let visit = pending.pop(); visit !== undefined; visit = pending.pop()) {
    if (visit.parent !== undefined && FORBIDDEN_KEYS.includes(visit.key)) return pointerOf(visit)
    const node = visit.value
    if (typeof node !== 'object' || node === null || JSON.isRawJSON(node)) continue
    const keys = Object.keys(node)
    // Reverse order onto a stack, so children pop in document order.
    for (let index = keys.length - 1; index >= 0; index--) {
      const key = keys[index] as string
      pending.push({ value: (node as Record<string, unknown>)[key], key, parent: visit })
    }
  }
  return undefined
}

function pointerOf(visit: Visit): string {
  const tokens: string[] = []
  for (let at: Visit | undefined = visit; at?.parent !== undefined; at = at.parent) tokens.push(at.key)
  return formatPointer(tokens.reverse())
}

/**
 * docs/http-api.md#nesting-depth: `metadata` itself is depth 1 and each nested object or array adds one; scalars
 * (raw numbers included) add nothing. Nothing deeper than maxDepth + 1 is ever visited.
 */
export function exceedsDepth(metadata: unknown, maxDepth: number): boolean {
  const pending: Array<[unknown, number]> = [[metadata, 1]]
  for (let pair = pending.pop(); pair !== undefined; pair = pending.pop()) {
    const [node, depth] = pair
    if (!isContainer(node)) continue
    if (depth > maxDepth) return true
    for (const child of Object.values(node)) {
      if (isContainer(child)) pending.push([child, depth + 1])
    }
  }
  return false
}

function isContainer(value: unknown): value is object {
  return Array.isArray(value) || isJsonObject(value)
}

/** Only the top-level `events` is AiFi's; `metadata.loyalty.events` is an ordinary key (docs/http-api.md#reserved-and-forbidden-keys). */
export function hasReservedKey(metadataPatch: JsonObject): boolean {
  return Object.hasOwn(metadataPatch, EVENTS_KEY)
}

/**
 * RFC 7396 merge, then `events` forced back to exactly the current value (absent stays absent), so no patch
 * can delete or rewrite AiFi's events even if the route's reserved-key check were bypassed.
 */
export function mergeMetadata(current: JsonObject, patch: JsonObject): JsonObject {
  const merged = applyMergePatch(current, patch) as JsonObject
  if (isJsonObject(current) && Object.hasOwn(current, EVENTS_KEY)) {
    setOwn(merged, EVENTS_KEY, cloneJson(current[EVENTS_KEY] as JsonValue))
  } else if (Object.hasOwn(merged, EVENTS_KEY)) {
    delete merged[EVENTS_KEY]
  }
  return merged
}
