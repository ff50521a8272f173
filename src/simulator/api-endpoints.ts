import type { Session, SessionPatchBody } from '../schemas.ts'
import type { Answer } from './http-io.ts'
import { parseListQuery } from './list-query.ts'
import { parsePatchBody } from './patch-body.ts'
import type { SessionStore } from './session-store.ts'

const NOT_FOUND: Answer = { status: 404 }

/** `GET /api/admin/v2/sessions`: the envelope's `next` is the last item's id, only while more remain. */
export function answerList(store: SessionStore, params: URLSearchParams): Answer {
  const query = parseListQuery(params)
  if (!query.ok) return { status: 400, json: query.error }
  const page = store.list(query.filter)
  const last = page.items.at(-1)
  const next = page.hasMore && last ? String(last.id) : null
  return { status: 200, json: { data: page.items, pagination: { next, count: page.items.length } } }
}

export type WriteCheck =
  | { ok: true; sessionId: string; body: SessionPatchBody; current: Session }
  | { ok: false; answer: Answer }

/** Everything `PATCH /api/admin/v2/sessions/{id}` checks before it writes: the body first, then the id. */
export function checkWrite(store: SessionStore, sessionId: string | undefined, rawBody: string): WriteCheck {
  const parsed = parsePatchBody(rawBody)
  if (!parsed.ok) return { ok: false, answer: { status: 400, json: parsed.error } }
  const current = sessionId === undefined ? undefined : store.get(sessionId)
  if (sessionId === undefined || current === undefined) return { ok: false, answer: NOT_FOUND }
  return { ok: true, sessionId, body: parsed.body, current }
}

export function answerSession(session: Session): Answer {
  return { status: 200, json: session }
}
