import type { Fetch } from './send.ts'

export interface ClientOptions {
  /** The proxy's origin, optionally with a path prefix: `http://merge-proxy:8080`. */
  baseUrl: string
  /** The caller key (one of the proxy's PROXY_API_KEYS secrets), sent as `Authorization: Bearer`. */
  apiKey: string
  /** A seam for tests and custom agents; the global fetch otherwise. */
  fetch?: Fetch
  /** Bounds each attempt, its body included (default 35 s: past the proxy's own 30 s deadline, so it answers first). */
  timeoutMs?: number
  /** Bounds a whole call, every attempt and wait in it (default 60 s). */
  deadlineMs?: number
  /** Retries after the first attempt (default 3, so up to 4 attempts). */
  retries?: number
}

/** Checked once, when the client is created: a bad option is a TypeError, before any call. */
export function resolveOptions(options: ClientOptions) {
  const url = new URL(options.baseUrl)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError('baseUrl must be an http or https URL')
  // fetch refuses a URL with credentials, and the caller key belongs in the Authorization header.
  if (url.username !== '' || url.password !== '') throw new TypeError('baseUrl must not hold credentials')
  if (url.search !== '' || url.hash !== '') throw new TypeError('baseUrl must not have a query or a fragment')
  // Visible ASCII inside: a header value that fetch would refuse, and quote in its error, never gets that far.
  if (typeof options.apiKey !== 'string' || !/^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(options.apiKey)) {
    throw new TypeError('apiKey must be a non-empty string of printable ASCII, without surrounding spaces')
  }
  return {
    baseUrl: `${url.origin}${url.pathname.replace(/\/+$/, '')}`,
    fetch: options.fetch ?? ((input: string, init: RequestInit) => globalThis.fetch(input, init)),
    timeoutMs: positive('timeoutMs', options.timeoutMs ?? 35_000),
    deadlineMs: positive('deadlineMs', options.deadlineMs ?? 60_000),
    retries: count('retries', options.retries ?? 3),
  }
}

// setTimeout turns anything above 2^31 - 1 ms into 1 ms, which would make a generous timeout an instant one.
const MAX_TIMER_MS = 2 ** 31 - 1

function positive(name: string, value: number): number {
  if (!(value > 0 && value <= MAX_TIMER_MS)) throw new TypeError(`${name} must be a positive number of milliseconds, at most ${MAX_TIMER_MS}`)
  return value
}

function count(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new TypeError(`${name} must be a non-negative integer`)
  return value
}
