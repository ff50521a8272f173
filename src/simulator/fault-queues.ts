import { cloneJson } from '../merge/json-tree.ts'
import type { JsonValue } from '../schemas.ts'
import type { FaultSpec } from './control-schemas.ts'

type ApiOp = FaultSpec['op']
export type Fault = Omit<FaultSpec, 'count'>

export type FaultQueues = ReturnType<typeof createFaultQueues>

/** Injected faults, queued per op in injection order; each spec answers its next `count` calls. */
export function createFaultQueues() {
  const queues: Record<ApiOp, Array<{ fault: Fault; remaining: number }>> = { read: [], write: [] }

  return {
    inject({ count, ...fault }: FaultSpec): void {
      // cloneJson, not structuredClone: a body sent over the controls may hold raw numbers.
      queues[fault.op].push({ fault: cloneJson(fault as JsonValue) as Fault, remaining: count })
    },

    /** The fault for this call, if one is queued; taking it uses it up. */
    take(op: ApiOp): Fault | undefined {
      const head = queues[op][0]
      if (!head) return undefined
      head.remaining -= 1
      if (head.remaining <= 0) queues[op].shift()
      return head.fault
    },
  }
}
