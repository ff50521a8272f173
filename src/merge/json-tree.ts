/** A JSON document as the proxy holds it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }
export type JsonObject = { [key: string]: JsonValue }

type JsonContainer = JsonObject | JsonValue[]

/** A raw number (json-number.ts) is an object to JavaScript but a number leaf to JSON: never one to merge into. */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !JSON.isRawJSON(value)
}

/**
 * Creates an own, enumerable data property. Plain assignment of `__proto__` would run the setter inherited
 * from Object.prototype and swap the object's prototype instead of creating a key.
 */
export function setOwn(target: JsonObject, key: string, value: JsonValue): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

/** Reads own keys only: `target['__proto__']` without such an own key would hand out Object.prototype. */
export function getOwn(target: JsonObject, key: string): JsonValue | undefined {
  return Object.hasOwn(target, key) ? target[key] : undefined
}

/**
 * A deep copy that shares nothing with its input. Iterative, because upstream metadata is not depth-checked
 * and JSON.parse accepts nesting far deeper than the call stack.
 */
export function cloneJson(value: JsonValue): JsonValue {
  const pending: Array<[JsonContainer, JsonContainer]> = []
  const copyShallow = (node: JsonValue): JsonValue => {
    // Raw numbers are frozen leaves, safe to share.
    if (typeof node !== 'object' || node === null || JSON.isRawJSON(node)) return node
    const copy: JsonContainer = Array.isArray(node) ? [] : {}
    pending.push([node, copy])
    return copy
  }
  const root = copyShallow(value)
  for (let pair = pending.pop(); pair !== undefined; pair = pending.pop()) {
    const [source, copy] = pair
    if (Array.isArray(source)) {
      for (const item of source) (copy as JsonValue[]).push(copyShallow(item))
    } else {
      for (const key of Object.keys(source)) setOwn(copy as JsonObject, key, copyShallow(source[key] as JsonValue))
    }
  }
  return root
}
