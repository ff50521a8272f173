import { hash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { ProxyError, fieldError } from '../errors.ts'
import { findForbiddenKey, isJsonNumber, isOutOfDoubleRange, parseJsonKeepingDigits } from '../merge/index.ts'
import { refuseContentEncoding } from './content-encoding.ts'

export const ACCEPTED_MEDIA_TYPES = ['application/json', 'application/merge-patch+json']

/** RFC 5789 §3.1: the patch format the session resource takes, on its GET and PATCH answers. */
export const ACCEPT_PATCH = 'application/merge-patch+json'

const utf8 = new TextDecoder('utf-8', { fatal: true })

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * A digest of the raw body bytes, taken only when an Idempotency-Key is sent: the key compares requests by
     * their bytes (docs/http-api.md#content-types).
     */
    bodyDigest: string
  }
}

/**
 * One parser for both media types (docs/http-api.md#content-types), replacing fastify's defaults. JSON.parse makes `__proto__` an own
 * property and never sets a prototype, so the text can be parsed first and every forbidden key then rejected
 * with its own error type, which is the protection fastify's default parser gives, answered in AiFi's shape.
 * Numbers keep the caller's digits (docs/http-api.md#numbers). Parse errors never quote the input.
 */
export function registerJsonBodyParser(app: FastifyInstance, bodyLimit: number): void {
  app.decorateRequest('bodyDigest', '')
  // Before the body is read: a wrong charset is 415 even when the body is also over the limit (415 before 413).
  app.addHook('preParsing', (request, _reply, payload, done) => {
    const hasBody = request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined
    if (hasBody && !hasUtf8Charset(request.headers['content-type'])) return done(new ProxyError('E_UNSUPPORTED_MEDIA_TYPE'))
    const encoded = hasBody ? refuseContentEncoding(request.headers['content-encoding']) : undefined
    if (encoded !== undefined) return done(encoded)
    done(null, payload)
  })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(ACCEPTED_MEDIA_TYPES, { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
    if (request.headers['idempotency-key'] !== undefined) {
      request.bodyDigest = hash('sha256', body as Buffer, 'base64url')
    }
    let value: unknown
    try {
      value = parseJsonKeepingDigits(utf8.decode(body as Buffer))
    } catch {
      return done(new ProxyError('E_INVALID_BODY', { message: 'The body is not valid UTF-8 JSON' }), undefined)
    }
    if (hasOutOfRangeNumber(value)) {
      // Kept as text, 1E400 would pass through; as a double it is Infinity, which JSON.stringify writes as null.
      return done(new ProxyError('E_INVALID_BODY', { message: 'A number is outside the range of a double' }), undefined)
    }
    const forbidden = findForbiddenKey(value)
    if (forbidden !== undefined) {
      const errors = [fieldError(forbidden, 'this key is not allowed', 'key.forbidden')]
      return done(new ProxyError('E_FORBIDDEN_KEY', { errors }), undefined)
    }
    done(null, value)
  })
}

/** Parameters other than charset are ignored; a charset other than UTF-8 is refused. */
function hasUtf8Charset(contentType: string | undefined): boolean {
  const parameters = (contentType ?? '').split(';').slice(1)
  for (const parameter of parameters) {
    const [name, rawValue = ''] = parameter.split('=')
    if (name?.trim().toLowerCase() !== 'charset') continue
    const value = rawValue.trim().replace(/^"(.*)"$/, '$1').toLowerCase()
    if (value !== 'utf-8' && value !== 'utf8') return false
  }
  return true
}

function hasOutOfRangeNumber(root: unknown): boolean {
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const value = stack.pop()
    if (isJsonNumber(value)) {
      if (isOutOfDoubleRange(value)) return true
    } else if (typeof value === 'object' && value !== null) {
      for (const child of Object.values(value)) stack.push(child)
    }
  }
  return false
}
