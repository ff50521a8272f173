export type UpstreamOp = 'read' | 'write'

/** AiFi answered with a status the proxy did not expect. The body is kept only to pass validation errors on. */
export class UpstreamHttpError extends Error {
  override name = 'UpstreamHttpError'
  constructor(
    readonly op: UpstreamOp,
    readonly status: number,
    readonly body: unknown,
    readonly retryAfterSeconds: number | undefined,
  ) {
    super(`AiFi answered ${status} to a ${op}`)
  }
}

/** AiFi answered 2xx with something the proxy cannot use (not JSON, wrong shape, ambiguous id, bad metadata). */
export class UpstreamBadResponseError extends Error {
  override name = 'UpstreamBadResponseError'
  constructor(
    readonly op: UpstreamOp,
    reason: string,
  ) {
    super(reason)
  }
}

/** The request's own deadline ran out before AiFi answered, or before a retry could start. */
export class DeadlineExceededError extends Error {
  override name = 'DeadlineExceededError'
}

/** One attempt got no complete answer within its time bound. */
export class UpstreamTimeoutError extends Error {
  override name = 'UpstreamTimeoutError'
  constructor(readonly op: UpstreamOp) {
    super(`AiFi did not answer a ${op} in time`)
  }
}
