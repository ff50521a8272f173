import { createHash } from 'node:crypto'
import type { JsonValue } from '../schemas.ts'
import { canonicalNumberText, isJsonNumber } from './json-number.ts'
import { isJsonObject } from './json-tree.ts'

type Pending = string | { value: unknown }

/**
 * Sorted keys at every level, no whitespace: the key order and number form of RFC 8785 (JCS) §3.2.3, with
 * keys sorted by UTF-16 code units and numbers written the ECMAScript way, extended to any exact decimal value
 * (so `-0` is `0`, `1.0` is `1`, and `12345678901234567890` keeps its digits: docs/http-api.md#numbers). Built on
 * an explicit stack because JSON.stringify recurses and upstream metadata is not depth-checked.
 */
export function canonicalJson(value: JsonValue): string {
  const out: string[] = []
  // Literal text and values still to write, last first.
  const pending: Pending[] = [{ value }]
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    if (typeof item === 'string') {
      out.push(item)
      continue
    }
    const node = item.value
    if (Array.isArray(node)) {
      out.push('[')
      pending.push(']')
      for (let index = node.length - 1; index >= 0; index--) {
        pending.push({ value: node[index] })
        if (index > 0) pending.push(',')
      }
    } else if (isJsonObject(node)) {
      out.push('{')
      pending.push('}')
      const keys = Object.keys(node).sort()
      for (let index = keys.length - 1; index >= 0; index--) {
        const key = keys[index] as string
        pending.push({ value: (node as Record<string, unknown>)[key] })
        pending.push(`${index > 0 ? ',' : ''}${JSON.stringify(key)}:`)
      }
    } else {
      out.push(writeScalar(node))
    }
  }
  return out.join('')
}

function writeScalar(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  // Non-finite numbers are not JSON; JSON.stringify has always written them as "null".
  if (typeof value === 'number' && !Number.isFinite(value)) return 'null'
  if (isJsonNumber(value)) return canonicalNumberText(value)
  if (typeof value === 'boolean') return String(value)
  return 'null'
}

/**
 * A strong validator (RFC 9110 §8.8.3) of the effective metadata, `events` included, so an event appended by
 * AiFi invalidates an earlier tag. Absent and `null` metadata mean `{}` upstream (docs/aifi-upstream.md#session-object), so they share its tag.
 */
export function computeEtag(metadata: unknown): string {
  const effective = metadata === undefined || metadata === null ? {} : metadata
  const digest = createHash('sha256')
    .update(canonicalJson(effective as JsonValue))
    .digest('base64url')
  return `"${digest}"`
}

/** RFC 9110 §8.8.3: opaque-tag = DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text. No `W/` prefix. */
const STRONG_ENTITY_TAG = /^"[\x21\x23-\x7E\x80-\xFF]*"$/

/**
 * RFC 9110 §13.1.1 If-Match: `*` matches any current representation (the caller has established that the
 * session exists), otherwise a list of entity-tags compared strongly (§8.8.3.2), so a weak tag never matches.
 * List members are split on commas outside quotes (etagc admits `,`), empty members are allowed (§5.6.1),
 * and a malformed member is skipped rather than failing the whole header.
 */
export function matchesIfMatch(ifMatchHeader: string, currentEtag: string): boolean {
  if (trimOws(ifMatchHeader) === '*') return true
  let start = 0
  let quoted = false
  for (let at = 0; at <= ifMatchHeader.length; at++) {
    const char = ifMatchHeader[at]
    if (char === '"') quoted = !quoted
    if (at < ifMatchHeader.length && (quoted || char !== ',')) continue
    const member = trimOws(ifMatchHeader.slice(start, at))
    if (STRONG_ENTITY_TAG.test(member) && member === currentEtag) return true
    start = at + 1
  }
  return false
}

/** RFC 9110 §5.6.3: OWS is spaces and horizontal tabs only. A loop, as a `[ \t]+$` regex backtracks quadratically. */
function trimOws(text: string): string {
  let start = 0
  let end = text.length
  while (start < end && (text[start] === ' ' || text[start] === '\t')) start++
  while (end > start && (text[end - 1] === ' ' || text[end - 1] === '\t')) end--
  return text.slice(start, end)
}
