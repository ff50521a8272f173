import { ProxyError } from '../errors.ts'
import type { Metrics } from '../metrics.ts'
import type { RequestContext } from '../request-context.ts'
import type { Session, SessionPatchBody } from '../schemas.ts'
import type { AifiClient } from './aifi-client.ts'
import { classifyFailure, retryAfterOf, type AuthMode, type ClassifiedFailure } from './failure-table.ts'
import type { RateLimiter } from './rate-limiter.ts'
import { withRetries, type RetryPolicy } from './retry.ts'

export type WriteOutcome = { ok: true; session: Session } | { ok: false; failure: ClassifiedFailure }

export type Upstream = ReturnType<typeof createUpstream>

// A pause longer than this would park every replica on one answer; AiFi's Retry-After is capped as backoffs are.
const MAX_PAUSE_MS = 5_000

/**
 * The AiFi client behind the outbound quota and the read retry policy (docs/consistency.md#retries).
 * Failures leave here classified by the failure table: a read throws the caller's ProxyError, a write returns
 * what its failure means for the cycle.
 */
export function createUpstream(deps: {
  client: AifiClient
  limiter: RateLimiter
  retryPolicy: RetryPolicy
  authMode: AuthMode
  metrics: Pick<Metrics, 'quotaWait' | 'upstreamPauses'>
}) {
  const { client, limiter, retryPolicy, authMode, metrics } = deps

  async function reserve(tokens: number, context: RequestContext): Promise<void> {
    const reservation = await limiter.reserve(tokens, context.deadline.remainingMs(), context.caller.authorization)
    if (reservation.granted) {
      metrics.quotaWait.observe(reservation.waitedMs / 1000)
      return
    }
    throw new ProxyError('E_UPSTREAM_UNAVAILABLE', {
      message: 'The outbound rate limit to AiFi cannot fit this call before its deadline',
      retryAfterSeconds: Math.max(1, Math.ceil(reservation.retryAfterMs / 1000)),
      refusal: true,
    })
  }

  /** Runs one attempt; when AiFi says it is over its rate, every caller of this credential holds off for its Retry-After. */
  async function attempt<T>(call: () => Promise<T>, context: RequestContext): Promise<T> {
    try {
      return await call()
    } catch (error) {
      const retryAfterSeconds = retryAfterOf(error)
      if (classifyFailure(error, authMode).pause && retryAfterSeconds !== undefined && retryAfterSeconds > 0) {
        metrics.upstreamPauses.inc()
        // Best effort: an unreachable Redis is answered by the next reservation, which refuses.
        await limiter.pause(context.caller.authorization, Math.min(MAX_PAUSE_MS, retryAfterSeconds * 1000)).catch(() => {})
      }
      throw error
    }
  }

  return {
    /**
     * Takes the tokens for a cycle's read *and* its write before the read, so the limiter never delays a write
     * after its read: that delay would widen the window in which AiFi's own event appends can be overwritten.
     */
    reserveCycle: (context: RequestContext) => reserve(2, context),

    /** Reads one session, retrying transient failures. The first attempt is paid for unless `prepaid` is false. */
    async readSession(sessionId: string, context: RequestContext, prepaid: boolean): Promise<Session | undefined> {
      try {
        if (!prepaid) await reserve(1, context)
        return await withRetries(() => attempt(() => client.readSession(sessionId, context), context), {
          policy: retryPolicy,
          deadline: context.deadline,
          beforeRetry: () => reserve(1, context),
        })
      } catch (error) {
        throw classifyFailure(error, authMode).error
      }
    },

    /** One attempt, never repeated here: a write is only retried by re-running the whole cycle. */
    async writeSession(sessionId: string, body: SessionPatchBody, context: RequestContext): Promise<WriteOutcome> {
      try {
        return { ok: true, session: await attempt(() => client.writeSession(sessionId, body, context), context) }
      } catch (error) {
        return { ok: false, failure: classifyFailure(error, authMode) }
      }
    },
  }
}
