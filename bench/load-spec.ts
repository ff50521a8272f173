/** What one load-generator run does (bench/load.ts), passed to it as JSON in argv. */
export interface LoadSpec {
  /** `proxy`: PATCH through the proxy. `naive`: GET the list, merge locally and PATCH the simulator directly. */
  mode: 'proxy' | 'naive'
  origin: string
  /**
   * Several replicas behind a round-robin balancer, in place of `origin`: the workers that share a session are
   * its callers in turn (worker `w` is caller `floor(w / sessionIds.length)`), and caller `i` of every session
   * sends to `origins[i % length]`, so one session's callers reach different replicas.
   */
  origins?: string[]
  authorization: string
  /** Worker `w` always writes `sessionIds[w % length]`. */
  sessionIds: string[]
  /** The most requests the run sends (all of them, unless `durationMs` ends it first). */
  count: number
  concurrency: number
  /** Request `i` sets `k${i % keys}` to `i`: a real change every time, with bounded metadata. */
  keys: number
  /** Unmeasured requests first, with the same concurrency, to warm up connections and the JIT. */
  warmup?: number
  /**
   * Paces each worker: its `n`-th request starts `(n + w / concurrency) × spacingMs` after the run begins, or
   * once its previous one is answered if that is later. The offset staggers the workers evenly, so paced
   * workers never send at the same moment.
   */
  spacingMs?: number
  /**
   * A time-boxed closed loop: workers keep sending until this many ms have passed, and what is still in flight
   * then is abandoned (aborted, and counted apart from the answers).
   */
  durationMs?: number
}

export interface LatencySummary {
  /** Answers received, and how many of them were 200. */
  count: number
  ok: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

export interface LoadResult {
  count: number
  ok: number
  failed: number
  /** Final outcomes by HTTP status, with the proxy's error type when it gave one (`503 E_LOCK_TIMEOUT`), or `error` for a transport failure. */
  statuses: Record<string, number>
  /** Requests still in flight when `durationMs` ran out; not in `count`. */
  abandoned: number
  wallMs: number
  /** 200 answers per second, over `durationMs` when the run was time-boxed. */
  throughput: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** The same latencies by origin, in the order of `origins` (one entry without it). */
  byOrigin: LatencySummary[]
  /** The generator's own CPU time over the warm-up and the measured requests. */
  cpuMs: number
}

export const SESSIONS_PATH = '/api/admin/v2/sessions'
