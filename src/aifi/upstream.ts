import { ProxyError } from '../errors.ts'
import type { Deadline } from '../deadline.ts'
import type { Session, SessionPatchBody } from '../schemas.ts'
import type { AifiClient } from './aifi-client.ts'
import type { RateLimiter } from './rate-limiter.ts'
import { withRetries, type RetryPolicy } from './retry.ts'

export interface UpstreamContext {
  authorization: string
  requestId: string
  deadline: Deadline
}

export type Upstream = ReturnType<typeof createUpstream>

/** The AiFi client behind the outbound rate limiter and the read retry policy (SPEC §4 Retries, Rate). */
export function createUpstream(deps: { client: AifiClient; limiter: RateLimiter; retryPolicy: RetryPolicy }) {
  const { client, limiter, retryPolicy } = deps

  async function reserve(tokens: number, deadline: Deadline): Promise<void> {
    if (await limiter.acquire(tokens, deadline.remainingMs())) return
    const retryAfterSeconds = Math.max(1, Math.ceil(limiter.estimateWaitMs() / 1000))
    throw new ProxyError('E_UPSTREAM_UNAVAILABLE', {
      message: 'The outbound rate limit to AiFi cannot fit this call before its deadline',
      headers: { 'retry-after': String(retryAfterSeconds) },
    })
  }

  const callContext = (context: UpstreamContext) => ({
    authorization: context.authorization,
    requestId: context.requestId,
    timeoutMs: context.deadline.remainingMs(),
  })

  return {
    /**
     * Takes the tokens for a cycle's read *and* its write before the read, so the limiter never delays a write
     * after its read: that delay would widen the window in which AiFi's own event appends can be overwritten.
     */
    reserveCycle: (context: UpstreamContext) => reserve(2, context.deadline),

    /** Reads one session, retrying transient failures. The first attempt is paid for unless `prepaid` is false. */
    async readSession(sessionId: string, context: UpstreamContext, prepaid: boolean): Promise<Session | undefined> {
      if (!prepaid) await reserve(1, context.deadline)
      return withRetries(() => client.findSession(sessionId, callContext(context)), {
        policy: retryPolicy,
        deadline: context.deadline,
        beforeRetry: () => reserve(1, context.deadline),
      })
    },

    /** One attempt, never repeated here: a write is only retried by re-running the whole cycle. */
    writeSession(sessionId: string, body: SessionPatchBody, context: UpstreamContext): Promise<Session> {
      return client.updateSession(sessionId, body, callContext(context))
    },
  }
}
