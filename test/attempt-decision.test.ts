import assert from 'node:assert/strict'
import { test } from 'node:test'
import { classifyFailure } from '../src/aifi/failure-table.ts'
import { UpstreamHttpError, UpstreamTimeoutError } from '../src/aifi/upstream-errors.ts'
import {
  appliedPatches,
  decideAttempt,
  plannedPatches,
  startCycle,
  type AttemptDecision,
  type CycleState,
  type WriteStep,
} from '../src/coordinator/attempt-decision.ts'
import { planBatch } from '../src/coordinator/batch-plan.ts'
import { ProxyError } from '../src/errors.ts'
import { computeEtag } from '../src/merge/index.ts'
import type { PatchRecord } from '../src/coordinator/patch-record.ts'
import type { Session, SessionPatchBody } from '../src/schemas.ts'

// The cycle's decisions without a socket: a read, the plan, what the write did, and what each patch gets.

const session: Session = { sessionId: 's', metadata: { events: [{ eventId: 'e1' }], a: 1 } }
const currentEtag = computeEtag(session.metadata)

function patch(label: string, body: SessionPatchBody, ifMatch?: string): PatchRecord {
  return {
    id: label,
    requestId: label,
    caller: 'tester',
    scope: 'key:tester',
    flow: 'tester',
    sessionId: 's',
    body,
    ifMatch: ifMatch ?? null,
    receivedAt: 0,
    turnAt: Date.now() + 10_000,
    deadlineAt: Date.now() + 10_000,
  }
}

function decide(state: CycleState, step: WriteStep, maxReruns = 3): AttemptDecision {
  return decideAttempt(state, session, planBatch(session, plannedPatches(state)), step, maxReruns)
}

/** Each settled patch by request id: `ok:<mergeResult>` or the error type. */
function outcomes(decision: AttemptDecision): Record<string, string> {
  return Object.fromEntries(
    decision.settled.map(([settled, settlement]) => [
      settled.requestId,
      settlement.ok ? `ok:${settlement.result.mergeResult}` : (settlement.error as ProxyError).type,
    ]),
  )
}

const ids = (patches: PatchRecord[]) => patches.map((each) => each.requestId)
const failed = (error: unknown): WriteStep => ({ kind: 'failed', failure: classifyFailure(error, 'service') })

// `first` applies; `stale` fails If-Match against the state after `first`; `fraud` applies; `deep` is refused.
const first = patch('first', { metadata: { b: 2 } })
const stale = patch('stale', { metadata: { c: 3 } }, currentEtag)
const fraud = patch('fraud', { suspectedFraud: true })
const batch = () => startCycle([first, stale, fraud])

test('a plan with nothing to write answers noop, or applied for a patch whose earlier write may have landed', () => {
  const again = patch('again', { metadata: { a: 1 } })
  const landed = patch('landed', { metadata: { a: 1 } })
  const state: CycleState = { pending: [again, landed], mayHaveLanded: new Set([landed.id]), ambiguousWrites: 1 }
  const decision = decide(state, { kind: 'nothing-to-write' })
  assert.deepEqual(outcomes(decision), { again: 'ok:noop', landed: 'ok:applied' })
  assert.equal(decision.next.kind, 'done')
})

test('If-Match is judged against the state each patch meets, and not again once its write may have landed', () => {
  assert.deepEqual(
    plannedPatches({ pending: [stale], mayHaveLanded: new Set([stale.id]), ambiguousWrites: 1 }).map((planned) => planned.checkIfMatch),
    [false],
  )
  const plan = planBatch(session, plannedPatches(batch()))
  assert.deepEqual(ids(appliedPatches(batch(), plan)), ['first', 'fraud'])
})

test('a landed, verified write answers applied to its patches and 412 to a stale If-Match among them', () => {
  const written = { ...session, metadata: { ...(session.metadata as object), b: 2 }, suspectedFraud: true }
  const decision = decide(batch(), { kind: 'written', session: written })
  assert.deepEqual(outcomes(decision), { first: 'ok:applied', stale: 'E_PRECONDITION_FAILED', fraud: 'ok:applied' })
  const [, settlement] = decision.settled.find(([settled]) => settled === first)!
  assert.equal(settlement.ok && settlement.result.etag, computeEtag(written.metadata))
})

test('a lost lease sent nothing: every undecided patch, the 412 included, runs again at once', () => {
  const decision = decide(batch(), { kind: 'lease-lost' })
  assert.deepEqual(outcomes(decision), {})
  assert.equal(decision.next.kind, 'again')
  assert.deepEqual(decision.next.kind === 'again' && ids(decision.next.state.pending), ['first', 'stale', 'fraud'])
})

test('an ambiguous write re-runs its applied patches after a backoff, marked as possibly landed, within the bound', () => {
  const decision = decide(batch(), failed(new UpstreamTimeoutError('write')))
  assert.deepEqual(outcomes(decision), { stale: 'E_PRECONDITION_FAILED' })
  assert.equal(decision.next.kind, 'after-backoff')
  if (decision.next.kind !== 'after-backoff') return
  assert.deepEqual(ids(decision.next.state.pending), ['first', 'fraud'])
  assert.deepEqual([...decision.next.state.mayHaveLanded], ['first', 'fraud'])
  assert.equal(decision.next.state.ambiguousWrites, 1)

  const exhausted = decide({ ...decision.next.state, ambiguousWrites: 3 }, failed(new UpstreamTimeoutError('write')), 3)
  assert.deepEqual(outcomes(exhausted), { first: 'E_UPSTREAM_TIMEOUT', fraud: 'E_UPSTREAM_TIMEOUT' })
  assert.equal(exhausted.next.kind, 'done')
})

test('a rejected batch splits into single patches in arrival order; a rejected single patch fails alone', () => {
  const rejected = new UpstreamHttpError('write', 400, undefined, undefined)
  const decision = decide(batch(), failed(rejected))
  assert.deepEqual(outcomes(decision), {})
  assert.equal(decision.next.kind, 'one-by-one')
  assert.deepEqual(decision.next.kind === 'one-by-one' && decision.next.states.map((state) => ids(state.pending)), [['first'], ['stale'], ['fraud']])

  const alone = decide(startCycle([first]), failed(rejected))
  assert.deepEqual(outcomes(alone), { first: 'E_UPSTREAM_REJECTED' })
})

test('a final failure and an unverified write answer every patch of the write with that error', () => {
  assert.deepEqual(outcomes(decide(batch(), failed(new UpstreamHttpError('write', 401, undefined, undefined)))), {
    first: 'E_UPSTREAM_AUTH',
    stale: 'E_PRECONDITION_FAILED',
    fraud: 'E_UPSTREAM_AUTH',
  })
  const unverified = decide(batch(), { kind: 'unverified', error: new ProxyError('E_UPSTREAM_BAD_RESPONSE') })
  assert.deepEqual(outcomes(unverified), { first: 'E_UPSTREAM_BAD_RESPONSE', stale: 'E_PRECONDITION_FAILED', fraud: 'E_UPSTREAM_BAD_RESPONSE' })
})
