/** What the flood-refusals load process does (bench/flood-refusals-load.ts), passed to it as JSON in argv. */
export interface FloodSpec {
  /** The proxies; patch `n` of a flood goes to `origins[n % length]`, as a round-robin balancer sends. */
  origins: string[]
  /** The simulator, where the load process makes its fresh sessions and resets and reads the counters. */
  simulatorUrl: string
  authorization: string
  /**
   * Unmeasured floods first, this many, each of `patches` patches to as many sessions, one after another: the
   * measured flood then meets the refusal path compiled by V8's optimizing tier, as in a proxy that has been up a
   * while, not its first few hundred requests (one warm-up of 100 left it twice as slow).
   */
  warmupFloods: number
  /** Before each measured flood, this long for the quota's burst and the simulator's bucket to refill. */
  recoveryMs: number
  /** Each flood: this many patches to as many fresh sessions, all at once. */
  patches: number
  /** Measured floods, one after another: one run on a shared 2-core machine is too noisy to judge by alone. */
  measuredFloods: number
}

export interface FloodRun {
  /** Connections open to the proxies when the flood was sent: patches / proxies, rounded up, to each. */
  connections: number
  patches: number
  /** 2xx answers, and the slowest of them from its own send. */
  accepted: number
  acceptedMaxMs: number
  /** 503 E_QUOTA_EXHAUSTED with a Retry-After of at least 1 s: the refusal the claim promises. */
  refused: number
  refusedP50Ms: number
  refusedP95Ms: number
  refusedMaxMs: number
  /** How many refusals said each Retry-After, in seconds. */
  retryAfterS: Record<string, number>
  /** Every other answer, by status and the proxy's error type, `… without Retry-After`, or `error`. */
  failures: Record<string, number>
  /** Every API call the simulator received from the flood's first send to its last answer, and its 503s. */
  upstreamRequests: number
  simulator503s: number
}
