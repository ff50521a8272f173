import { pino, stdSerializers, type DestinationStream, type Logger } from 'pino'
import type { Config } from './config.ts'

/**
 * Paths whose values never reach a log line, wherever a header, caller or config object ends up (docs/operations.md#what-is-never-logged).
 * Nothing logs these today (fastify's request serializer has no headers); this is the net under a future
 * `log.info({ request })`. Metadata values are kept out by never logging bodies: the audit line has paths only.
 */
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["idempotency-key"]',
  'headers.authorization',
  '*.headers.authorization',
  'authorization',
  '*.authorization',
  '*.*.authorization',
  'token',
  '*.token',
  'upstreamToken',
  '*.upstreamToken',
  'secret',
  '*.secret',
  'aifiApiToken',
  '*.aifiApiToken',
  'callerKeys',
  '*.callerKeys',
]

// Only what says what went wrong. An error's other own properties may carry what AiFi answered (`body`) or field
// errors that quote the caller's input (`errors`), and those may hold personal data.
const ERROR_FIELDS = ['type', 'message', 'stack', 'code', 'statusCode'] as const

function serializeError(error: unknown): unknown {
  const full = stdSerializers.err(error as Error) as unknown
  if (typeof full !== 'object' || full === null) return full
  const record = full as Record<string, unknown>
  return Object.fromEntries(ERROR_FIELDS.filter((field) => record[field] !== undefined).map((field) => [field, record[field]]))
}

export function createLogger(config: Pick<Config, 'logLevel'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError },
  }
  return destination === undefined ? pino(options) : pino(options, destination)
}
