const LIST_PATH = '/api/admin/v2/sessions'
const SESSION_PATH_PREFIX = `${LIST_PATH}/`

export type ApiRoute =
  | { op: 'read' }
  /** `sessionId` is undefined when the path segment cannot be percent-decoded: no session can match it. */
  | { op: 'write'; sessionId: string | undefined; rawSessionId: string }

/** The two AiFi endpoints the proxy uses; anything else is not part of this stand-in. */
export function matchApiRoute(method: string, pathname: string): ApiRoute | undefined {
  if (method === 'GET' && pathname === LIST_PATH) return { op: 'read' }
  if (method !== 'PATCH' || !pathname.startsWith(SESSION_PATH_PREFIX)) return undefined
  const rawSessionId = pathname.slice(SESSION_PATH_PREFIX.length)
  if (rawSessionId === '' || rawSessionId.includes('/')) return undefined
  return { op: 'write', sessionId: decodeSegment(rawSessionId), rawSessionId }
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment)
  } catch {
    return undefined
  }
}

/** `Bearer` is matched case-insensitively (RFC 9110 §11.1: auth schemes are case-insensitive). */
export function hasValidBearer(authorization: string | undefined, token: string): boolean {
  const match = /^bearer +(\S+) *$/i.exec(authorization ?? '')
  return match?.[1] === token
}
