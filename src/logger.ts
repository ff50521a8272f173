import { pino, type DestinationStream, type Logger } from 'pino'
import type { Config } from './config.ts'

/**
 * Paths whose values never reach a log line, wherever a header or config object ends up (SPEC §5, §8).
 * Metadata values are kept out by never logging bodies at all; the audit line carries paths only.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["idempotency-key"]',
  'headers.authorization',
  'authorization',
  'token',
  'aifiApiToken',
  'callerKeys',
  'config.aifiApiToken',
  'config.callerKeys',
]

export function createLogger(config: Pick<Config, 'logLevel'>, destination?: DestinationStream): Logger {
  const options = { level: config.logLevel, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }
  return destination === undefined ? pino(options) : pino(options, destination)
}
