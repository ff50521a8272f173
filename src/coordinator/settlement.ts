import type { Session } from '../schemas.ts'

export type MergeResult = 'applied' | 'noop' | 'dry-run'

export interface PatchResult {
  session: Session
  etag: string
  mergeResult: MergeResult
}

/** What one patch ends with: its result, or its own error. */
export type Settlement = { ok: true; result: PatchResult } | { ok: false; error: unknown }
