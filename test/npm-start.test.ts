import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { connectionRefused, isRunning, startServerProcess } from './cluster-helper.ts'
import { rawRequest } from './helper.ts'

// `npm start` as an operator or a terminal runs it: the signal goes to npm's own pid (or to its process group),
// and the server must drain and exit with it, leaving nothing behind (docs/operations.md#graceful-shutdown).

const REPO = fileURLToPath(new URL('..', import.meta.url))

function startNpm(t: TestContext, detached: boolean, env: Record<string, string> = {}) {
  return startServerProcess(t, {
    command: 'npm',
    args: ['start'],
    cwd: REPO,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', HOST: '127.0.0.1', ...env },
    detached,
  })
}

test('SIGTERM to the pid of `npm start` drains and stops the server: npm exits 0, nothing is left listening', async (t) => {
  const server = await startNpm(t, false)
  assert.notEqual(server.serverPid, server.pid, 'npm runs the server as its child')
  assert.equal((await rawRequest(server.port, 'GET', '/healthz')).status, 200)

  server.kill('SIGTERM')
  assert.equal(await server.exited, 0)
  assert.ok(server.logs.some((entry) => entry.msg === 'drained and closed'))
  assert.equal(isRunning(server.serverPid), false, 'the server process is gone, not orphaned')
  assert.equal(await connectionRefused(server.port), true, 'nothing listens on the port')
})

test('Ctrl-C on `npm start` drains once: the copy of the signal npm forwards to the server does not cut the drain short', async (t) => {
  // A delay keeps the drain open, so the forwarded copy surely lands during it.
  const server = await startNpm(t, true, { SHUTDOWN_DELAY_MS: '1000' })
  process.kill(-server.pid, 'SIGINT')
  await server.waitForLog((entry) => entry.msg === 'shutting down: /readyz answers 503')
  // npm's copy may reach the server before its own (the two then merge) or after it, as here.
  process.kill(server.serverPid, 'SIGINT')
  assert.equal(await server.exited, 0)
  assert.equal(server.signalCode(), null)
  assert.ok(server.logs.some((entry) => entry.msg === 'drained and closed'))
  assert.equal(isRunning(server.serverPid), false)
  assert.equal(await connectionRefused(server.port), true)
})
