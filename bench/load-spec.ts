/** What one load-generator run does (bench/load.ts), passed to it as JSON in argv. */
export interface LoadSpec {
  /** `proxy`: PATCH through the proxy. `naive`: GET the list, merge locally and PATCH the simulator directly. */
  mode: 'proxy' | 'naive'
  origin: string
  authorization: string
  /** Worker `w` always writes `sessionIds[w % length]`. */
  sessionIds: string[]
  count: number
  concurrency: number
  /** Request `i` sets `k${i % keys}` to `i`: a real change every time, with bounded metadata. */
  keys: number
  /** Unmeasured requests first, with the same concurrency, to warm up connections and the JIT. */
  warmup?: number
  /** Minimum time between one worker's request starts. */
  spacingMs?: number
}

export interface LoadResult {
  count: number
  ok: number
  failed: number
  /** Final outcomes by HTTP status (or `error` for a transport failure). */
  statuses: Record<string, number>
  wallMs: number
  throughput: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** The generator's own CPU time over the warm-up and the measured requests. */
  cpuMs: number
}

export const SESSIONS_PATH = '/api/admin/v2/sessions'
