import type { IncomingMessage, ServerResponse } from 'node:http'
import type { z } from 'zod'
import { parseJsonLeniently } from '../merge/json-text.ts'
import type { Session } from '../schemas.ts'
import {
  appendedEventSchema,
  faultSpecSchema,
  latencySchema,
  rateLimitSchema,
  sessionFieldsSchema,
  type AppendedEvent,
  type FaultSpec,
  type Latency,
} from './control-schemas.ts'
import type { SimulatorCounters } from './counters.ts'
import { decodeSegment, readBody, sendAnswer, type Answer } from './http-io.ts'
import { EventsNotAppendableError, UnknownSessionError } from './simulator-errors.ts'

export const CONTROL_PREFIX = '/__sim/'

/** The simulator's test controls, as the `/__sim/` endpoints reach them. */
export interface SimulatorControls {
  createSession(fields?: Record<string, unknown>): Session
  getSession(sessionId: string): Session | undefined
  appendEvent(sessionId: string, event?: AppendedEvent): Session
  injectFault(fault: FaultSpec): void
  setLatency(latency: Latency): void
  setRateLimit(rps: number | null): void
  counters(): SimulatorCounters
  resetCounters(): void
}

class BadControlInputError extends Error {}

/** The in-process controls over HTTP (no auth, JSON in and out), so a benchmark in another process can drive them. */
export async function handleControlRequest(req: IncomingMessage, res: ServerResponse, controls: SimulatorControls) {
  const raw = await readBody(req)
  const path = (req.url ?? '/').split('?', 1)[0] ?? '/'
  // A segment that cannot be decoded is matched as sent, so a 404 names the path the caller used.
  const segments = path.slice(CONTROL_PREFIX.length).split('/').map((segment) => decodeSegment(segment) ?? segment)
  try {
    const input: ReadInput = (whenEmpty) => {
      const parsed = parseInput(raw)
      return parsed === undefined ? whenEmpty : parsed
    }
    sendAnswer(res, routeControl(req.method ?? 'GET', segments, input, controls))
  } catch (error) {
    sendAnswer(res, describeControlError(error))
  }
}

type ReadInput = (whenEmpty?: unknown) => unknown

function routeControl(method: string, segments: string[], input: ReadInput, controls: SimulatorControls): Answer {
  const sessionId = segments[1] ?? ''
  switch (routeKeyOf(method, segments)) {
    case 'POST sessions':
      return { status: 201, json: controls.createSession(validate(sessionFieldsSchema, input({}))) }
    case 'GET sessions/:id': {
      const session = controls.getSession(sessionId)
      return session ? { status: 200, json: session } : notFound(`No session ${JSON.stringify(sessionId)}`)
    }
    case 'POST sessions/:id/events':
      return { status: 200, json: controls.appendEvent(sessionId, validate(appendedEventSchema, input({}))) }
    case 'POST faults':
      controls.injectFault(validate(faultSpecSchema, input()))
      return { status: 204 }
    case 'POST latency':
      controls.setLatency(validate(latencySchema, input()))
      return { status: 204 }
    case 'POST rate-limit':
      controls.setRateLimit(validate(rateLimitSchema, input()).rps)
      return { status: 204 }
    case 'GET counters':
      return { status: 200, json: controls.counters() }
    case 'POST counters/reset':
      controls.resetCounters()
      return { status: 204 }
    default:
      return notFound(`No simulator control ${method} ${CONTROL_PREFIX}${segments.join('/')}`)
  }
}

/** Keys like `POST sessions/:id/events`: a session id is the only variable part of a control path. */
function routeKeyOf(method: string, segments: string[]): string {
  const [first, ...rest] = segments
  const shape = first === 'sessions' && rest.length > 0 ? [first, ':id', ...rest.slice(1)] : segments
  return `${method} ${shape.join('/')}`
}

/** An empty body is no input (undefined), so `POST /__sim/sessions` with nothing creates a default session. */
function parseInput(raw: string): unknown {
  if (raw.trim() === '') return undefined
  const parsed = parseJsonLeniently(raw)
  if (parsed === undefined) throw new BadControlInputError('The body is not valid JSON')
  return parsed
}

// The input itself is passed on, not the schema's output: stored session fields must keep every key as sent.
function validate<Schema extends z.ZodType>(schema: Schema, input: unknown): z.infer<Schema> {
  const checked = schema.safeParse(input)
  if (!checked.success) throw new BadControlInputError(checked.error.issues.map(describeIssue).join('; '))
  return input as z.infer<Schema>
}

function describeIssue(issue: z.core.$ZodIssue): string {
  return issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message
}

function describeControlError(error: unknown): Answer {
  if (error instanceof BadControlInputError) return { status: 400, json: { message: error.message } }
  if (error instanceof UnknownSessionError) return notFound(error.message)
  if (error instanceof EventsNotAppendableError) return { status: 409, json: { message: error.message } }
  throw error
}

function notFound(message: string): Answer {
  return { status: 404, json: { message } }
}
