import { hash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { CallerKey } from '../config.ts'
import type { Caller } from '../request-context.ts'
import { ProxyError } from '../errors.ts'

/** docs/configuration.md#auth-modes: service mode checks the caller's own key and calls AiFi with the proxy's token; forward mode relays. */
export type AuthSettings = { mode: 'service'; callerKeys: CallerKey[]; upstreamToken: string } | { mode: 'forward' }

export type Authenticate = (request: FastifyRequest) => Caller

const BEARER = /^bearer[ \t]+(\S.*)$/i

export function createAuthenticator(settings: AuthSettings): Authenticate {
  if (settings.mode === 'forward') {
    return (request) => {
      const authorization = request.headers.authorization
      if (authorization === undefined || authorization.trim() === '') throw new ProxyError('E_UNAUTHORIZED')
      const scope = `forwarded:${digest(authorization).toString('base64url')}`
      return { name: 'forwarded', authorization, scope }
    }
  }

  // Digests make every comparison the same length, so timingSafeEqual can compare without leaking length.
  const keys = settings.callerKeys.map((key) => ({ name: key.name, digest: digest(key.secret) }))
  const upstreamAuthorization = `Bearer ${settings.upstreamToken}`
  return (request) => {
    const presented = BEARER.exec(request.headers.authorization ?? '')?.[1]?.trim()
    if (presented === undefined) throw new ProxyError('E_UNAUTHORIZED')
    const presentedDigest = digest(presented)
    let caller: string | undefined
    // Every key is compared, match or not, so the time taken says nothing about which key nearly matched.
    for (const key of keys) if (timingSafeEqual(key.digest, presentedDigest) && caller === undefined) caller = key.name
    if (caller === undefined) throw new ProxyError('E_UNAUTHORIZED')
    return { name: caller, authorization: upstreamAuthorization, scope: `key:${caller}` }
  }
}

function digest(secret: string): Buffer {
  return hash('sha256', secret, 'buffer')
}
