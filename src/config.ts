import { z } from 'zod'
import { chooseTracesExporters, otlpTracesEndpoint, tracingEnvShape } from './tracing/tracing-env.ts'

// The one place that reads the environment (docs/configuration.md#environment-variables). Everything else receives a Config.

/**
 * A number read as zod's coerce reads it (`Number(value)`), refused with a sentence a person can act on: what is
 * expected, the default, and the value given (numbers are no secret; shortened, in case one was pasted in).
 */
const numberSetting = (fallback: number, expected: string, accepts: (value: number) => boolean) =>
  z
    .string()
    .optional()
    // A refinement, not an issue raised in the transform: it leaves the checks across variables below running too.
    .refine((raw) => raw === undefined || (Number.isFinite(Number(raw)) && accepts(Number(raw))), {
      error: (issue) => `expected ${expected} (default ${fallback}), got ${JSON.stringify(shorten(String(issue.input)))}`,
    })
    .transform((raw) => (raw === undefined ? fallback : Number(raw)))
const shorten = (raw: string) => (raw.length > 24 ? `${raw.slice(0, 24)}…` : raw)
const positiveInt = (fallback: number) => numberSetting(fallback, 'a whole number of 1 or more', (n) => Number.isInteger(n) && n > 0)
const nonNegativeInt = (fallback: number) => numberSetting(fallback, 'a whole number of 0 or more', (n) => Number.isInteger(n) && n >= 0)
const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value))

export interface CallerKey {
  name: string
  secret: string
}

// Printable ASCII, with no space at either end (a presented key is trimmed).
const PRINTABLE_ASCII = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/
const KEY_NAME = /^[\w.-]+$/

/** `name:secret,name:secret`. Only the first `:` separates: secrets may contain `:` themselves (docs/configuration.md#auth-modes). */
const callerKeysSchema = optionalText.transform((value, ctx): CallerKey[] | undefined => {
  if (value === undefined) return undefined
  const keys: CallerKey[] = []
  for (const pair of value.split(',')) {
    const separator = pair.indexOf(':')
    const name = pair.slice(0, separator).trim()
    const secret = pair.slice(separator + 1)
    if (separator <= 0 || name === '' || secret === '') {
      // Never echo the pair: it holds a secret.
      ctx.addIssue({ code: 'custom', message: 'expected name:secret pairs separated by commas' })
      return z.NEVER
    }
    // A secret travels in an HTTP header, which Node reads as latin1: anything but printable ASCII could never match.
    if (!PRINTABLE_ASCII.test(secret) || !KEY_NAME.test(name)) {
      ctx.addIssue({ code: 'custom', message: 'names are letters, digits, _ . - and secrets printable ASCII' })
      return z.NEVER
    }
    keys.push({ name, secret })
  }
  return keys
})

/** `name:weight,name:weight` (docs/configuration.md#caller-shares): a caller not named has weight 1. */
const callerSharesSchema = optionalText.transform((value, ctx): Map<string, number> | undefined => {
  if (value === undefined) return undefined
  const shares = new Map<string, number>()
  for (const pair of value.split(',')) {
    const [name = '', weight = ''] = pair.split(':').map((part) => part.trim())
    const parsed = Number(weight)
    if (!KEY_NAME.test(name) || weight === '' || !Number.isFinite(parsed) || parsed <= 0 || shares.has(name)) {
      ctx.addIssue({ code: 'custom', message: `expected name:weight pairs separated by commas, each name once and each weight above 0, such as checkout:4,backfill:1; got ${JSON.stringify(shorten(pair))}` })
      return z.NEVER
    }
    shares.set(name, parsed)
  }
  return shares
})

// The value is never repeated: a URL may hold credentials (REDIS_URL's password, for one).
const urlSchema = (protocols: string[], example: string) =>
  optionalText.refine(
    (value) => value === undefined || (URL.canParse(value) && protocols.includes(new URL(value).protocol)),
    `expected ${protocols[0] === 'http:' ? 'an' : 'a'} ${protocols.map((protocol) => `${protocol}//`).join(' or ')} URL such as ${example} (the value given is not shown)`,
  )

const envSchema = z
  .object({
    NODE_ENV: optionalText,
    PORT: numberSetting(8080, 'a port number from 0 to 65535', (n) => Number.isInteger(n) && n >= 0 && n <= 65535),
    HOST: z.string().min(1).optional(),
    AIFI_BASE_URL: urlSchema(['http:', 'https:'], 'https://oasis-api.public.sandbox.oasis.aifi.com'),
    AIFI_API_TOKEN: optionalText,
    PROXY_API_KEYS: callerKeysSchema,
    CALLER_SHARES: callerSharesSchema,
    REDIS_URL: urlSchema(['redis:', 'rediss:'], 'redis://redis:6379'),
    AIFI_MAX_RPS: numberSetting(20, 'a number of requests per second above 0, such as 20 or 0.5', (n) => n > 0),
    UPSTREAM_TIMEOUT_MS: positiveInt(10_000),
    UPSTREAM_RETRIES: nonNegativeInt(3),
    REQUEST_DEADLINE_MS: positiveInt(30_000),
    LOCK_WAIT_MS: positiveInt(10_000),
    LOCK_TTL_MS: positiveInt(5_000),
    MAX_BATCH: positiveInt(64),
    BODY_LIMIT_BYTES: positiveInt(262_144),
    MAX_DEPTH: positiveInt(32),
    // One caller's kept Idempotency-Key answers (docs/configuration.md#idempotency-bounds): at least a MiB, so a large session's answer fits.
    IDEMPOTENCY_MAX_BYTES_PER_CALLER: z.coerce.number().int().min(1_048_576).default(16_777_216),
    IDEMPOTENCY_MAX_KEYS_PER_CALLER: positiveInt(10_000),
    SHUTDOWN_DELAY_MS: nonNegativeInt(0),
    SHUTDOWN_GRACE_MS: nonNegativeInt(10_000),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    ...tracingEnvShape, // the OTEL_* variables that decide whether to trace (docs/configuration.md#tracing)
  })
  .superRefine((env, ctx) => {
    if (env.AIFI_API_TOKEN !== undefined && env.PROXY_API_KEYS === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['AIFI_API_TOKEN'],
        message: 'is set but PROXY_API_KEYS is not: the proxy would be an open relay for the token',
      })
    }
    if (env.PROXY_API_KEYS !== undefined && env.AIFI_API_TOKEN === undefined && env.AIFI_BASE_URL !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['PROXY_API_KEYS'],
        message: 'is set but AIFI_API_TOKEN is not: the proxy would have nothing to call AiFi with',
      })
    }
    // A share for a name no key has would silently do nothing: most likely a typo.
    const unknown = [...(env.CALLER_SHARES?.keys() ?? [])].filter((name) => !env.PROXY_API_KEYS?.some((key) => key.name === name))
    if (unknown.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['CALLER_SHARES'],
        message: `names callers that PROXY_API_KEYS does not have: ${unknown.join(', ')} (in forward mode callers have no names to share by)`,
      })
    }
    if (env.NODE_ENV === 'production' && env.AIFI_BASE_URL === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['AIFI_BASE_URL'],
        message: 'is required when NODE_ENV=production (the embedded simulator is for development only)',
      })
    }
  })
  .transform((env) => ({
    nodeEnv: env.NODE_ENV ?? 'development',
    port: env.PORT,
    // With the embedded simulator a caller key is printed and anyone who reaches the port may use it: loopback only,
    // unless HOST says otherwise (docs/configuration.md#embedded-simulator).
    host: env.HOST ?? (env.AIFI_BASE_URL === undefined ? '127.0.0.1' : '0.0.0.0'),
    aifiBaseUrl: env.AIFI_BASE_URL,
    aifiApiToken: env.AIFI_API_TOKEN,
    callerKeys: env.PROXY_API_KEYS,
    callerShares: env.CALLER_SHARES ?? new Map<string, number>(),
    redisUrl: env.REDIS_URL,
    aifiMaxRps: env.AIFI_MAX_RPS,
    upstreamTimeoutMs: env.UPSTREAM_TIMEOUT_MS,
    upstreamRetries: env.UPSTREAM_RETRIES,
    requestDeadlineMs: env.REQUEST_DEADLINE_MS,
    lockWaitMs: env.LOCK_WAIT_MS,
    lockTtlMs: env.LOCK_TTL_MS,
    maxBatch: env.MAX_BATCH,
    bodyLimitBytes: env.BODY_LIMIT_BYTES,
    maxDepth: env.MAX_DEPTH,
    idempotencyBounds: {
      maxBytesPerCaller: env.IDEMPOTENCY_MAX_BYTES_PER_CALLER,
      maxKeysPerCaller: env.IDEMPOTENCY_MAX_KEYS_PER_CALLER,
    },
    shutdownDelayMs: env.SHUTDOWN_DELAY_MS,
    shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
    logLevel: env.LOG_LEVEL,
    /** Empty: tracing is off and no OpenTelemetry code is loaded. */
    tracesExporters: chooseTracesExporters(env),
    /** Where OTLP spans go, for the logs (no credentials); the exporter resolves it again itself. */
    tracesEndpoint: otlpTracesEndpoint(env),
  }))

export type Config = Readonly<z.infer<typeof envSchema>>

/**
 * Every variable loadConfig reads. Any other is ignored, a misspelt one too: deploy/'s files are checked against these
 * (test/deploy-config.test.ts).
 */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.in.shape)

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Validates the whole environment at once, so one message names every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = envSchema.safeParse(env)
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `  ${issue.path.join('.') || 'environment'}: ${issue.message}`)
    throw new ConfigError(`Invalid configuration:\n${problems.join('\n')}`)
  }
  return Object.freeze(result.data)
}
