import { ProxyError } from '../errors.ts'

/**
 * RFC 9110 §8.4: the proxy decodes no content coding, so a body that declares one (gzip, br, …) is 415, never
 * parsed as if it were plain JSON; RFC 7694 §3 says which coding to use instead. `identity`, or no header, is
 * plain (docs/http-api.md#content-types).
 */
export function refuseContentEncoding(header: string | undefined): ProxyError | undefined {
  if (header === undefined) return undefined
  const codings = header.split(',').map((coding) => coding.trim().toLowerCase())
  if (codings.every((coding) => coding === 'identity' || coding === '')) return undefined
  return new ProxyError('E_UNSUPPORTED_MEDIA_TYPE', {
    message: 'Content-Encoding must be identity: send the JSON body uncompressed',
    headers: { 'accept-encoding': 'identity' },
  })
}
