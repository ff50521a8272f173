import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import test from 'node:test'
import type { Inbox } from '../src/coordinator/inbox.ts'
import { createMemoryInbox } from '../src/coordinator/memory-inbox.ts'
import type { PatchRecord } from '../src/coordinator/patch-record.ts'
import { createLocalLock, type LockLease, type SessionLock } from '../src/coordinator/session-lock.ts'
import { createWaitingCallers } from '../src/coordinator/waiting-callers.ts'
import { connectTestRedis, createRedisCoordination } from './cluster-helper.ts'

// Inbox.hasQueued decides whether a patch whose flow's turn comes too late may still ride in a batch already
// queued for its session, rather than be refused before it queues (docs/consistency.md#sharing-the-quota).

function record(sessionId: string): PatchRecord {
  const now = Date.now()
  const id = randomUUID()
  return { id, sessionId, caller: 'tester', scope: 'key:tester', flow: 'tester', requestId: id, body: { metadata: { a: 1 } }, ifMatch: null, receivedAt: now, turnAt: now + 5_000, deadlineAt: now + 10_000 }
}

async function assertQueuedUntilTaken<Lease extends LockLease>(inbox: Inbox<Lease>, lock: SessionLock<Lease>): Promise<void> {
  const [session, other] = [randomUUID(), randomUUID()]
  assert.equal(await inbox.hasQueued(session), false, 'nothing pushed yet')
  await inbox.push(record(session))
  assert.equal(await inbox.hasQueued(session), true, 'a pushed patch waits for a batch')
  assert.equal(await inbox.hasQueued(other), false, 'only its own session is said to have one')
  const lease = (await lock.acquire(session, 1_000))!
  const batch = await inbox.take(session, lease, 64)
  assert.equal(batch?.patches.length, 1)
  assert.equal(await inbox.hasQueued(session), false, 'a taken batch has nothing left to ride in')
  await lease.release()
}

test('the memory inbox says a session has a patch queued from its push until a batch takes it', async () => {
  await assertQueuedUntilTaken(createMemoryInbox(), createLocalLock())
})

test('the Redis inbox says a session has a patch queued, whichever replica pushed it, until a batch takes it', async (t) => {
  const redis = await connectTestRedis(t)
  if (redis === undefined) return
  const coordination = await createRedisCoordination(t, redis)
  await assertQueuedUntilTaken(coordination.sharedInbox!(createWaitingCallers()), coordination.lock)
})
