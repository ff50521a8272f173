import { z } from 'zod'

// Shapes of the simulator's test controls. The in-process API and the `/__sim/` endpoints share them,
// so a benchmark in another process drives the simulator with exactly what a test would pass in.

export const faultSpecSchema = z
  .object({
    op: z.enum(['read', 'write']),
    count: z.number().int().positive(),
    kind: z.enum(['status', 'hang', 'reset', 'ignore-write']),
    status: z.number().int().min(100).max(599).optional(),
    body: z.unknown().optional(),
    headers: z.record(z.string(), z.string()).optional(),
    applyFirst: z.boolean().optional(),
  })
  .strict()
  .refine((fault) => fault.kind !== 'status' || fault.status !== undefined, {
    message: 'a "status" fault needs a status',
    path: ['status'],
  })
  .refine((fault) => fault.op === 'write' || (fault.kind !== 'ignore-write' && !fault.applyFirst), {
    message: '"ignore-write" and "applyFirst" apply to writes only',
    path: ['op'],
  })
  .refine((fault) => !(fault.kind === 'ignore-write' && fault.applyFirst), {
    message: '"ignore-write" cannot also apply the write first',
    path: ['applyFirst'],
  })
export type FaultSpec = z.infer<typeof faultSpecSchema>

export const latencySchema = z
  .object({
    op: z.enum(['read', 'write', 'all']),
    ms: z.number().int().nonnegative(),
  })
  .strict()
export type Latency = z.infer<typeof latencySchema>

/** `null` turns the limiter off. */
export const rateLimitSchema = z.object({ rps: z.number().positive().nullable() }).strict()

export const appendedEventSchema = z
  .object({
    eventId: z.string().min(1).optional(),
    metadata: z.unknown().optional(),
  })
  .strict()
export type AppendedEvent = z.infer<typeof appendedEventSchema>

/** Fields for a new session: anything may be overridden, unknown fields included. */
export const sessionFieldsSchema = z.record(z.string(), z.unknown())
