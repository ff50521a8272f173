/** What the noisy-neighbour load process does (bench/noisy-neighbour-load.ts), passed to it as JSON in argv. */
export interface NoisySpec {
  /** The proxies; each caller spreads its requests over them round robin, request by request. */
  origins: string[]
  /** The simulator, whose counters the load process resets and reads at the flood's very edges. */
  simulatorUrl: string
  checkout: { authorization: string; sessionIds: string[] }
  backfill: { authorization: string; sessionIds: string[] }
  /** Unmeasured checkout patches first, one at a time: a process's first requests run cold code. */
  warmup: number
  /** The checkout caller sends a patch every `spacingMs`, whether or not the last one was answered (open loop). */
  spacingMs: number
  aloneMs: number
  floodMs: number
  /**
   * Once the checkout caller has sent its last patch, the flood goes on until every one is answered, for at most
   * this long; a patch still waiting then counts as a failure, its wait so far as its latency.
   */
  tailMs: number
}

export interface CallerPhase {
  /** Patches sent in the phase. */
  sent: number
  /** 2xx answers. */
  ok: number
  /** Everything else, by status and the proxy's error type (`503 E_LOCK_TIMEOUT`), `no answer` or `error`. */
  failures: Record<string, number>
  p50Ms: number
  p95Ms: number
  maxMs: number
}

export interface FloodPhase {
  /** From the counters' reset to their reading: the backfill's whole flood, tail included. */
  durationMs: number
  checkout: CallerPhase
  backfill: {
    workers: number
    /** 2xx answers within the flood, and per second of it. */
    ok: number
    patchesPerSecond: number
    failures: Record<string, number>
    /** Requests still in flight when the flood ended, aborted and not counted. */
    abandoned: number
  }
  /** Every API call the simulator received during the flood (its 503s included), and per second. */
  upstreamRequests: number
  upstreamRps: number
  /** The simulator's 503s for being over its rate. */
  simulator503s: number
}

export interface NoisyRun {
  alone: CallerPhase
  flood: FloodPhase
}
