import assert from 'node:assert/strict'
import type { RequestLogEntry } from '../src/simulator/counters.ts'
import type { Simulator } from '../src/simulator/simulator.ts'

// Shared checks for the hostile-input tests: the documented error shape (docs/http-api.md#errors), and what reached "AiFi".

export interface Answer {
  statusCode: number
  body: string
  headers: Record<string, unknown>
}

/** Exactly `{message, type, errors, requestId}`, with `errors` an array of `{error, rule, field}` (docs/http-api.md#errors). */
export function assertErrorShape(answer: Answer, context = ''): Record<string, unknown> {
  const body = JSON.parse(answer.body) as Record<string, unknown>
  assert.deepEqual(Object.keys(body).sort(), ['errors', 'message', 'requestId', 'type'], context)
  assert.equal(typeof body.message, 'string', context)
  assert.match(String(body.type), /^E_[A-Z_]+$/, context)
  assert.equal(typeof body.requestId, 'string', context)
  assert.notEqual(body.requestId, '', context)
  assert.ok(Array.isArray(body.errors), context)
  for (const item of body.errors as unknown[]) {
    assert.deepEqual(Object.keys(item as object).sort(), ['error', 'field', 'rule'], context)
    for (const value of Object.values(item as object)) assert.equal(typeof value, 'string', context)
  }
  return body
}

/** Runs `send` against a fresh simulator log and returns the upstream calls it caused. */
export async function callsDuring<T>(simulator: Simulator, send: () => Promise<T>): Promise<[T, RequestLogEntry[]]> {
  simulator.resetCounters()
  const result = await send()
  return [result, simulator.counters().log]
}

/**
 * No session id can reach another upstream path or query: every call is the list read with exactly
 * `sessionToken` and `count`, or a PATCH of one encoded path segment under the sessions path.
 */
export function assertUpstreamCallsConfined(calls: RequestLogEntry[], context = ''): void {
  for (const call of calls) {
    const url = new URL(call.url, 'http://upstream')
    if (call.method === 'GET') {
      assert.equal(url.pathname, '/api/admin/v2/sessions', context)
      assert.deepEqual([...url.searchParams.keys()].sort(), ['count', 'sessionToken'], context)
    } else {
      assert.equal(call.method, 'PATCH', context)
      assert.match(url.pathname, /^\/api\/admin\/v2\/sessions\/[^/]+$/, context)
      assert.equal(url.search, '', context)
    }
  }
}

/** Every own property of the built-in prototypes input could reach, with its descriptor. */
export function snapshotPrototypes(): string {
  const prototypes = { Object: Object.prototype, Array: Array.prototype, Function: Function.prototype, String: String.prototype }
  return JSON.stringify(
    Object.entries(prototypes).map(([name, prototype]) => [
      name,
      Object.getPrototypeOf(prototype) === null ? 'null' : 'linked',
      Reflect.ownKeys(prototype).map((key) => {
        const descriptor = Object.getOwnPropertyDescriptor(prototype, key)!
        return [String(key), typeof descriptor.value, descriptor.writable, descriptor.enumerable, Boolean(descriptor.get)]
      }),
    ]),
  )
}
