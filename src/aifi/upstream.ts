import { ProxyError } from '../errors.ts'
import type { RequestContext } from '../request-context.ts'
import type { Session, SessionPatchBody } from '../schemas.ts'
import type { AifiClient } from './aifi-client.ts'
import { classifyFailure, type AuthMode, type ClassifiedFailure } from './failure-table.ts'
import type { RateLimiter } from './rate-limiter.ts'
import { withRetries, type RetryPolicy } from './retry.ts'

export type WriteOutcome = { ok: true; session: Session } | { ok: false; failure: ClassifiedFailure }

export type Upstream = ReturnType<typeof createUpstream>

/**
 * The AiFi client behind the outbound rate limiter and the read retry policy (docs/consistency.md#retries).
 * Failures leave here classified by the failure table: a read throws the caller's ProxyError, a write returns
 * what its failure means for the cycle.
 */
export function createUpstream(deps: { client: AifiClient; limiter: RateLimiter; retryPolicy: RetryPolicy; authMode: AuthMode }) {
  const { client, limiter, retryPolicy, authMode } = deps

  async function reserve(tokens: number, context: RequestContext): Promise<void> {
    if (await limiter.acquire(tokens, context.deadline.remainingMs())) return
    throw new ProxyError('E_UPSTREAM_UNAVAILABLE', {
      message: 'The outbound rate limit to AiFi cannot fit this call before its deadline',
      retryAfterSeconds: Math.max(1, Math.ceil(limiter.estimateWaitMs() / 1000)),
    })
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
        return await withRetries(() => client.readSession(sessionId, context), {
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
        return { ok: true, session: await client.writeSession(sessionId, body, context) }
      } catch (error) {
        return { ok: false, failure: classifyFailure(error, authMode) }
      }
    },
  }
}
