import type { FastifyBaseLogger } from 'fastify'
import type { PatchResult, Settlement } from '../coordinator/settlement.ts'
import { ProxyError, type ErrorType } from '../errors.ts'
import { parseJsonKeepingDigits } from '../merge/index.ts'
import type { FieldError } from '../schemas.ts'

// How settlements travel from the replica that ran a batch to the replicas holding its callers
// (src/redis/shared-inbox.ts). A batch's callers mostly share one result, the session after the write: it is
// encoded once per batch and once per message, not once per caller.

type EncodedError = { type: ErrorType; message: string; errors: FieldError[]; headers: Record<string, string> }
type EncodedSettlement = { ok: true; result: PatchResult } | { ok: false; error: EncodedError }
/** One replica's message: the batch's results, and each of its callers' settlements pointing into them. */
interface Message {
  results: PatchResult[]
  settlements: Record<string, { ok: true; result: number } | { ok: false; error: EncodedError }>
}

export interface SettledEntry {
  id: string
  replica: string
  settlement: Settlement
}

export interface EncodedBatch {
  /** id, settlement, id, settlement, ...: what is kept for a caller that looks its settlement up at its deadline. */
  stored: string[]
  /** One message per replica. */
  messages: Map<string, string>
}

export function encodeBatch(entries: SettledEntry[], logger: FastifyBaseLogger): EncodedBatch {
  const results: string[] = []
  const indexOf = new Map<PatchResult, number>()
  const stored: string[] = []
  const perReplica = new Map<string, string[]>()
  for (const { id, replica, settlement } of entries) {
    let own: string
    if (settlement.ok) {
      let index = indexOf.get(settlement.result)
      if (index === undefined) index = results.push(JSON.stringify(settlement.result)) - 1
      indexOf.set(settlement.result, index)
      stored.push(id, `{"ok":true,"result":${results[index]}}`)
      own = `{"ok":true,"result":${index}}`
    } else {
      own = JSON.stringify({ ok: false, error: encodeError(settlement.error, logger) })
      stored.push(id, own)
    }
    if (!perReplica.has(replica)) perReplica.set(replica, [])
    perReplica.get(replica)!.push(`${JSON.stringify(id)}:${own}`)
  }
  const messages = new Map(
    [...perReplica].map(([replica, settlements]) => [replica, `{"results":[${results.join(',')}],"settlements":{${settlements.join(',')}}}`]),
  )
  return { stored, messages }
}

/** A replica's message, as [entry id, settlement] pairs. */
export function decodeMessage(message: string): Array<[string, Settlement]> {
  // Keeping digits: results hold AiFi's session (docs/http-api.md#numbers).
  const { results, settlements } = parseJsonKeepingDigits(message) as Message
  return Object.entries(settlements).map(([id, settlement]) => [
    id,
    settlement.ok ? { ok: true, result: results[settlement.result]! } : { ok: false, error: decodeError(settlement.error) },
  ])
}

/** One settlement as kept in Redis. */
export function decodeStored(stored: string): Settlement {
  const settlement = parseJsonKeepingDigits(stored) as EncodedSettlement
  return settlement.ok ? settlement : { ok: false, error: decodeError(settlement.error) }
}

function encodeError(error: unknown, logger: FastifyBaseLogger): EncodedError {
  if (!(error instanceof ProxyError)) {
    logger.error({ err: error }, 'shared inbox: a patch failed with an unexpected error')
    return encodeError(new ProxyError('E_INTERNAL'), logger)
  }
  const { type, message, errors, headers } = error
  return { type, message, errors, headers }
}

function decodeError({ type, message, errors, headers }: EncodedError): ProxyError {
  return new ProxyError(type, { message, errors, headers })
}
