import type { Metrics } from '../metrics.ts'
import type { FairQuota } from '../quota/quota.ts'
import type { Session, SessionPatchBody } from '../schemas.ts'
import type { AifiClient } from './aifi-client.ts'
import { classifyFailure, retryAfterOf, type AuthMode, type ClassifiedFailure } from './failure-table.ts'
import { withRetries, type RetryPolicy } from './retry.ts'
import type { UpstreamCallContext } from './upstream-call.ts'

export type WriteOutcome = { ok: true; session: Session } | { ok: false; failure: ClassifiedFailure }

export type Upstream = ReturnType<typeof createUpstream>

// A pause longer than this would park every replica on one answer; AiFi's Retry-After is capped as backoffs are.
const MAX_PAUSE_MS = 5_000

/**
 * The AiFi client with the read retry policy (docs/consistency.md#retries). A call's first attempt is paid for
 * by whoever makes it (the drain pays a cycle's read and write together); a retry pays for itself. Failures
 * leave here classified by the failure table: a read throws the caller's ProxyError, a write returns what its
 * failure means for the cycle.
 */
export function createUpstream(deps: {
  client: AifiClient
  quota: Pick<FairQuota, 'reserve' | 'pause'>
  retryPolicy: RetryPolicy
  authMode: AuthMode
  clock: { delay(ms: number): Promise<void> }
  metrics: Pick<Metrics, 'upstreamPauses'>
  /** AiFi answered 2xx to this Authorization (forward mode: its caller becomes a flow of its own). */
  onAccepted?: (authorization: string) => void
}) {
  const { client, quota, retryPolicy, authMode, metrics } = deps

  /** Runs one attempt; when AiFi says it is over its rate, every caller (every replica) holds off for its Retry-After. */
  async function attempt<T>(call: () => Promise<T>, context: UpstreamCallContext): Promise<T> {
    try {
      const answer = await call()
      deps.onAccepted?.(context.authorization)
      return answer
    } catch (error) {
      const retryAfterSeconds = retryAfterOf(error)
      if (classifyFailure(error, authMode).pause && retryAfterSeconds !== undefined && retryAfterSeconds > 0) {
        metrics.upstreamPauses.inc()
        await quota.pause(Math.min(MAX_PAUSE_MS, retryAfterSeconds * 1000))
      }
      throw error
    }
  }

  return {
    /** Reads one session, retrying transient failures; undefined when AiFi has no such session. */
    async readSession(sessionId: string, context: UpstreamCallContext): Promise<Session | undefined> {
      try {
        return await withRetries(() => attempt(() => client.readSession(sessionId, context), context), {
          policy: retryPolicy,
          deadline: context.deadline,
          delay: deps.clock.delay,
          beforeRetry: async () => void (await quota.reserve({ flow: context.flow, tokens: 1, deadlineAt: context.deadline.expiresAt })),
        })
      } catch (error) {
        throw classifyFailure(error, authMode).error
      }
    },

    /** One attempt, never repeated here: a write is only retried by re-running the whole cycle. */
    async writeSession(sessionId: string, body: SessionPatchBody, context: UpstreamCallContext): Promise<WriteOutcome> {
      try {
        return { ok: true, session: await attempt(() => client.writeSession(sessionId, body, context), context) }
      } catch (error) {
        return { ok: false, failure: classifyFailure(error, authMode) }
      }
    },
  }
}
