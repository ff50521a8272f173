import { randomUUID } from 'node:crypto'
import type { Session } from '../schemas.ts'

const DAY_MS = 24 * 60 * 60 * 1000

/**
 * A session shaped like AiFi's (fields in the order of AiFi's session docs), with `fields` overriding
 * anything. `sessionToken` and `sessionId` are one concept in AiFi, so giving one sets both.
 * `shoppingSessionFlags` stands in for the fields AiFi sends but does not document: the proxy must pass it
 * through untouched.
 */
export function buildSessionRecord(id: number, fields: Record<string, unknown>, now: Date): Session {
  const timestamp = now.toISOString()
  const sessionId = pickString(fields.sessionId) ?? pickString(fields.sessionToken) ?? randomUUID()
  const defaults: Session = {
    createdAt: timestamp,
    updatedAt: timestamp,
    id,
    customerId: 1000 + id,
    code: randomUUID(),
    codeFirstSuccesfullyScannedAt: timestamp,
    codeLastSuccesfullyScannedAt: timestamp,
    customerFirstEnteredAt: timestamp,
    customerLastEnteredAt: timestamp,
    customerFirstExitedAt: null,
    customerLastExitedAt: null,
    customerPaymentInstrumentId: 7000 + id,
    customerSatisfaction: null,
    customerSatisfactionSubmitted: false,
    groupSize: 1,
    visitors: 1,
    locationId: 'sim-location-1',
    priority: 0,
    sessionToken: sessionId,
    sessionId,
    referencedSessionId: null,
    status: 'active',
    storeId: 1,
    storeIdScannableAt: 1,
    suspectedFraud: false,
    metadata: { events: [] },
    expiresAt: new Date(now.getTime() + DAY_MS).toISOString(),
    shoppingSessionFlags: { restrictedProductsInteraction: false, checkoutZoneEntered: false },
  }
  return { ...defaults, ...fields }
}

function pickString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}
