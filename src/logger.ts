import { pino, type DestinationStream, type Logger } from 'pino'
import type { Config } from './config.ts'
import { censorSecrets } from './log-censor.ts'

// Only what says what went wrong. An error's other own properties may carry what AiFi answered (`body`) or field
// errors that quote the caller's input (`errors`), and those may hold personal data.
const ERROR_FIELDS = ['type', 'message', 'stack', 'code', 'statusCode'] as const
// A cause is named, never quoted: its message may quote what it failed on (V8's JSON errors quote their input).
const CAUSE_FIELDS = ['type', 'code'] as const
const MAX_CAUSES = 5

/**
 * pino's own serializer appends every cause's message and stack to the error's: here the error keeps its own,
 * and each cause in the chain is logged by name and code only (docs/operations.md#logs). A SyntaxError's message
 * is withheld wherever it sits: JSON.parse quotes the text it could not parse, which may be a caller's body or
 * what AiFi or Redis held.
 */
function serializeError(error: unknown, fields: readonly string[] = ERROR_FIELDS, depth = 0): unknown {
  if (typeof error !== 'object' || error === null) return error
  const record = error as Record<string, unknown>
  const quotesInput = error instanceof SyntaxError
  const described: Record<string, unknown> = {
    type: error instanceof Error ? error.constructor.name : undefined,
    message: quotesInput ? `${error.name} (message withheld: it may quote input)` : record.message,
    // The stack opens with the message: only its frames are kept when that may quote input.
    stack: quotesInput ? framesOf(record.stack) : record.stack,
    code: record.code,
    statusCode: record.statusCode,
  }
  const kept = Object.fromEntries(fields.filter((field) => described[field] !== undefined).map((field) => [field, described[field]]))
  if (record.cause !== undefined && depth < MAX_CAUSES) kept.cause = serializeError(record.cause, CAUSE_FIELDS, depth + 1)
  return kept
}

function framesOf(stack: unknown): string | undefined {
  if (typeof stack !== 'string') return undefined
  const firstFrame = stack.indexOf('\n    at ')
  return firstFrame < 0 ? undefined : stack.slice(firstFrame + 1)
}

export function createLogger(config: Pick<Config, 'logLevel'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    // Secrets are censored by key name wherever they sit: the net under a future `log.info({ request })`.
    // Metadata values are kept out by never logging bodies: the audit line has paths only.
    formatters: { log: censorSecrets },
    serializers: { err: (error: unknown) => serializeError(error) },
  }
  const logger = destination === undefined ? pino(options) : pino(options, destination)
  // pino applies a bindings formatter to the root logger only, so child bindings (fastify makes a child per
  // request) are censored here; a child inherits this `child` from the root through its prototype.
  const pinoChild = logger.child
  logger.child = function (this: Logger, bindings, childOptions) {
    return pinoChild.call(this, censorSecrets(bindings), childOptions)
  } as Logger['child']
  return logger
}
