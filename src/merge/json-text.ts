import type { JsonObject, JsonValue } from '../schemas.ts'
import { readNumberToken } from './json-number.ts'
import { setOwn } from './json-tree.ts'

const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * JSON.parse that keeps every number's digits (docs/http-api.md#numbers): a number a double would change comes
 * back as a raw number (see json-number.ts). JSON.parse itself validates the text and throws its SyntaxError;
 * when every number is already exact (the usual case) its result is the answer. Otherwise the tree is built again
 * from the now known-valid text by an iterative scan, not by a reviver: JSON.parse's reviver recurses and runs
 * out of stack near 10,000 levels, and AiFi's metadata is not depth-checked.
 */
/** The parsed value, or `undefined` (which no JSON text parses to) when the text is not JSON. */
export function parseJsonLeniently(text: string): unknown {
  try {
    return parseJsonKeepingDigits(text)
  } catch {
    return undefined
  }
}

export function parseJsonKeepingDigits(text: string): unknown {
  const value: unknown = JSON.parse(text)
  return hasInexactNumber(text) ? buildTree(text) : value
}

function hasInexactNumber(text: string): boolean {
  for (let at = 0; at < text.length; ) {
    const code = text.charCodeAt(at)
    if (code === QUOTE) {
      at = endOfString(text, at)
    } else if (startsNumber(code)) {
      const end = endOfNumber(text, at)
      const token = text.slice(at, end)
      if (String(Number(token)) !== token) return true
      at = end
    } else {
      at++
    }
  }
  return false
}

interface Frame {
  container: JsonObject | JsonValue[]
  /** In an object: the member name read and not yet given its value. */
  key: string | undefined
}

/** Valid JSON text only: outside strings it holds nothing but punctuation, literals, numbers and whitespace. */
function buildTree(text: string): JsonValue {
  const stack: Frame[] = []
  let root: JsonValue = null
  const attach = (value: JsonValue): void => {
    const frame = stack.at(-1)
    if (frame === undefined) root = value
    else if (Array.isArray(frame.container)) frame.container.push(value)
    else {
      // Own data properties, as JSON.parse makes them: `__proto__` is a key, never a prototype.
      setOwn(frame.container, frame.key as string, value)
      frame.key = undefined
    }
  }
  for (let at = 0; at < text.length; ) {
    const char = text[at] as string
    if (char === '{' || char === '[') {
      const container: JsonObject | JsonValue[] = char === '{' ? {} : []
      attach(container)
      stack.push({ container, key: undefined })
      at++
    } else if (char === '}' || char === ']') {
      stack.pop()
      at++
    } else if (char === '"') {
      const end = endOfString(text, at)
      const string = JSON.parse(text.slice(at, end)) as string
      const frame = stack.at(-1)
      if (frame !== undefined && !Array.isArray(frame.container) && frame.key === undefined) frame.key = string
      else attach(string)
      at = end
    } else if (startsNumber(text.charCodeAt(at))) {
      const end = endOfNumber(text, at)
      attach(readNumberToken(text.slice(at, end)))
      at = end
    } else if (char === 't' || char === 'f' || char === 'n') {
      attach(char === 't' ? true : char === 'f' ? false : null)
      at += char === 'f' ? 5 : 4
    } else {
      at++
    }
  }
  return root
}

/** The index just past the closing quote of the string starting at `start`. */
function endOfString(text: string, start: number): number {
  for (let from = start + 1; ; ) {
    const quote = text.indexOf('"', from)
    if (quote === -1) return text.length
    let backslashes = 0
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++
    if (backslashes % 2 === 0) return quote + 1
    from = quote + 1
  }
}

function startsNumber(code: number): boolean {
  return code === 0x2d || (code >= 0x30 && code <= 0x39)
}

/** Digits, `.`, `e`, `E`, `+` and `-`: in valid JSON text, the characters a number token is made of. */
function endOfNumber(text: string, start: number): number {
  let at = start + 1
  for (let code = text.charCodeAt(at); startsNumber(code) || code === 0x2e || code === 0x2b || (code | 0x20) === 0x65; ) {
    code = text.charCodeAt(++at)
  }
  return at
}
