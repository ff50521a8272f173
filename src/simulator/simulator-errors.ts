/** No stored session has this id (in-process callers get the throw; HTTP callers get a 404). */
export class UnknownSessionError extends Error {
  constructor(readonly sessionId: string) {
    super(`No simulated session with id ${JSON.stringify(sessionId)}`)
    this.name = 'UnknownSessionError'
  }
}

/**
 * The session's `metadata` is not an object, or its `events` is not an array, so there is nowhere to append
 * an event without destroying what is stored (HTTP: 409).
 */
export class EventsNotAppendableError extends Error {
  constructor(readonly sessionId: string) {
    super(`Session ${JSON.stringify(sessionId)} has no metadata.events array to append to`)
    this.name = 'EventsNotAppendableError'
  }
}
