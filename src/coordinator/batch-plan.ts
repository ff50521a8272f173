import { ProxyError } from '../errors.ts'
import { computeEtag, isJsonObject, jsonEqual, matchesIfMatch, mergeMetadata } from '../merge/index.ts'
import type { JsonObject, Session, SessionPatchBody } from '../schemas.ts'

export interface PlannedPatch {
  body: SessionPatchBody
  ifMatch: string | undefined
  /** If-Match is judged until a write holding the patch may have landed (docs/http-api.md#if-match). */
  checkIfMatch: boolean
}

export type PatchVerdict = { kind: 'apply' } | { kind: 'reject'; error: ProxyError }

export interface BatchPlan {
  verdicts: PatchVerdict[]
  /** What to send to AiFi, or undefined when the applied patches change nothing. */
  write: SessionPatchBody | undefined
  /** The session as it would be after the write: the answer for a dry run or a no-op. */
  preview: Session
  /** Metadata as read (undefined when not an object): what the write deletes is checked against it. */
  metadataBefore: JsonObject | undefined
  /** `events` exactly as read, for post-write verification. */
  eventsBefore: unknown
  eventsPresentBefore: boolean
}

/** Metadata that is absent or null counts as `{}`; anything else that is not an object cannot be merged into. */
function effectiveMetadata(session: Session): JsonObject | undefined {
  const { metadata } = session
  if (metadata === undefined || metadata === null) return {}
  // isJsonObject: a number AiFi sent as raw text (docs/http-api.md#numbers) is not an object either.
  return isJsonObject(metadata) ? metadata : undefined
}

/**
 * Applies patches in arrival order to one read of the session (docs/consistency.md#coalescing). Each patch's If-Match is
 * checked against the state just before it, so a batch behaves exactly like the same patches applied one by one.
 */
export function planBatch(session: Session, patches: PlannedPatch[]): BatchPlan {
  const current = effectiveMetadata(session)
  const alreadyFlagged = session.suspectedFraud === true
  let working = current
  let raisesFlag = false
  let touchesMetadata = false

  const verdicts = patches.map((patch): PatchVerdict => {
    const { metadata, suspectedFraud } = patch.body
    if (metadata !== undefined && working === undefined) {
      const error = new ProxyError('E_UPSTREAM_BAD_RESPONSE', {
        message: "The session's current metadata is not an object, so the proxy will not overwrite it",
      })
      return { kind: 'reject', error }
    }
    if (patch.checkIfMatch && patch.ifMatch !== undefined && !matchesIfMatch(patch.ifMatch, computeEtag(working ?? session.metadata))) {
      return { kind: 'reject', error: new ProxyError('E_PRECONDITION_FAILED') }
    }
    if (metadata !== undefined && working !== undefined) {
      working = mergeMetadata(working, metadata)
      touchesMetadata = true
    }
    if (suspectedFraud === true) raisesFlag = true
    return { kind: 'apply' }
  })

  const metadataChanged = touchesMetadata && current !== undefined && working !== undefined && !jsonEqual(current, working)
  const flagChanges = raisesFlag && !alreadyFlagged
  const write: SessionPatchBody | undefined =
    metadataChanged || flagChanges
      ? {
          ...(flagChanges ? { suspectedFraud: true as const } : {}),
          ...(metadataChanged && working !== undefined ? { metadata: working } : {}),
        }
      : undefined

  return {
    verdicts,
    write,
    preview: {
      ...session,
      ...(touchesMetadata ? { metadata: working } : {}),
      ...(raisesFlag ? { suspectedFraud: true } : {}),
    },
    metadataBefore: current,
    eventsBefore: current?.events,
    eventsPresentBefore: current !== undefined && Object.hasOwn(current, 'events'),
  }
}
