import { imageNodeFlags, runJsonChild } from './children.ts'
import type { SimControl } from './sim-control.ts'

// Scenario 5: how long the proxy blocks its event loop on the largest inputs the hostile-limits tests merge.
// The tests can only check that the cost grows linearly with the input; the figure against the 50 ms target
// depends on the machine, so it is measured here. An event-loop monitor has to run inside the process it
// watches, and src/ has none, so bench/large-inputs-proxy.ts builds the app from the compiled build in a child
// of its own and listens on a port; the AiFi simulator is the benchmark's simulator process, so only the proxy's
// work (and its in-process client's) lands on the loop being watched.

export const STALL_TARGET_MS = 50
/** Measured runs per input, after one unmeasured warm-up run. */
export const STALL_RUNS = 7
/** Large enough for the 1 MB strings; the other inputs fit the default as well. */
export const STALL_BODY_LIMIT_BYTES = 4 * 1024 * 1024

export interface LargeInputsSpec {
  dist: string
  simulatorUrl: string
  token: string
  runs: number
  bodyLimitBytes: number
}

export interface StallRow {
  input: string
  /** Bytes of the PATCH body, and of the session's metadata upstream before the merge. */
  bodyBytes: number
  upstreamBytes: number
  /** The longest block of the event loop during each measured request, in ms. */
  stallsMs: number[]
  medianMs: number
  maxMs: number
  /** Wall time of each request's median run, client included. */
  medianRequestMs: number
}

/** What the child measured. */
export interface LargeInputsRun {
  resolutionMs: number
  rows: StallRow[]
}

export interface LargeInputsResult extends LargeInputsRun {
  runs: number
  targetMs: number
  bodyLimitBytes: number
}

export async function measureLargeInputs(dist: string, simulator: { url: string; token: string }, sim: SimControl): Promise<LargeInputsResult> {
  await sim.setLatency(0)
  const spec: LargeInputsSpec = { dist, simulatorUrl: simulator.url, token: simulator.token, runs: STALL_RUNS, bodyLimitBytes: STALL_BODY_LIMIT_BYTES }
  const args = [...(await imageNodeFlags()), '--import', 'tsx', 'bench/large-inputs-proxy.ts', JSON.stringify(spec)]
  const measured = await runJsonChild<LargeInputsRun>('large-inputs', args, 60_000)
  return { ...measured, runs: STALL_RUNS, targetMs: STALL_TARGET_MS, bodyLimitBytes: STALL_BODY_LIMIT_BYTES }
}
