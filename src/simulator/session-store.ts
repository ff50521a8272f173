import { randomUUID } from 'node:crypto'
import { cloneJson, isJsonObject } from '../merge/json-tree.ts'
import type { JsonValue, Session, SessionPatchBody } from '../schemas.ts'
import type { AppendedEvent } from './control-schemas.ts'
import { buildSessionRecord } from './session-defaults.ts'
import { EventsNotAppendableError, UnknownSessionError } from './simulator-errors.ts'

export interface ListFilter {
  sessionToken?: string
  id?: number
  after?: number
  count: number
}

interface SessionPage {
  items: Session[]
  hasMore: boolean
}

export type SessionStore = ReturnType<typeof createSessionStore>

/** A deep copy that keeps raw numbers, which structuredClone cannot copy. */
function copy<T>(value: T): T {
  return cloneJson(value as JsonValue) as T
}

/**
 * AiFi's session table, in memory. Records are never handed out directly: every read returns a deep copy,
 * so a caller can never change stored state by accident. Copies keep raw numbers (docs/http-api.md#numbers),
 * so numbers are stored with the digits they were sent with, as a store of JSON text would.
 */
export function createSessionStore(clock: () => Date = () => new Date()) {
  // Duplicate session ids are allowed on purpose: tests use them to make the list return two exact matches.
  const records: Session[] = []
  let lastId = 0

  // A record is the session its sessionId names; its sessionToken names it only when it has no sessionId.
  function findRecord(sessionId: string): Session | undefined {
    return (
      records.find((record) => record.sessionId === sessionId) ??
      records.find((record) => (record.sessionId === undefined || record.sessionId === null) && record.sessionToken === sessionId)
    )
  }

  function requireRecord(sessionId: string): Session {
    const record = findRecord(sessionId)
    if (!record) throw new UnknownSessionError(sessionId)
    return record
  }

  function touch(record: Session): void {
    record.updatedAt = clock().toISOString()
  }

  return {
    create(fields: Record<string, unknown> = {}): Session {
      const record = buildSessionRecord(lastId + 1, copy(fields), clock())
      // An explicit numeric id moves the sequence past it, so later sessions still sort after it.
      lastId = typeof record.id === 'number' && record.id > lastId ? record.id : lastId + 1
      records.push(record)
      return copy(record)
    },

    get(sessionId: string): Session | undefined {
      const record = findRecord(sessionId)
      return record && copy(record)
    },

    list(filter: ListFilter): SessionPage {
      const selected = records
        .filter((record) => filter.sessionToken === undefined || record.sessionToken === filter.sessionToken)
        .filter((record) => filter.id === undefined || record.id === filter.id)
        .filter((record) => filter.after === undefined || Number(record.id) > filter.after)
        .sort((a, b) => Number(a.id) - Number(b.id))
      return {
        items: selected.slice(0, filter.count).map((record) => copy(record)),
        hasMore: selected.length > filter.count,
      }
    },

    /** AiFi's PATCH: `metadata` replaces the stored object wholesale; `suspectedFraud` can only be raised. */
    applyPatch(sessionId: string, body: SessionPatchBody): Session {
      const record = requireRecord(sessionId)
      if (body.metadata !== undefined) record.metadata = copy(body.metadata)
      if (body.suspectedFraud === true) record.suspectedFraud = true
      touch(record)
      return copy(record)
    },

    /** What AiFi's ThirdParty and Handoff feeds do: append to `metadata.events` behind the retailer's back. */
    appendEvent(sessionId: string, event: AppendedEvent = {}): Session {
      const record = requireRecord(sessionId)
      const metadata = record.metadata ?? {}
      if (!isJsonObject(metadata)) throw new EventsNotAppendableError(sessionId)
      const events = metadata.events ?? []
      if (!Array.isArray(events)) throw new EventsNotAppendableError(sessionId)
      const eventMetadata = (event.metadata ?? {}) as JsonValue
      events.push(copy({ eventId: event.eventId ?? randomUUID(), metadata: eventMetadata }))
      metadata.events = events
      record.metadata = metadata
      touch(record)
      return copy(record)
    },
  }
}
