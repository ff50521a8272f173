import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { test } from 'node:test'
import { promisify } from 'node:util'

const run = promisify(execFile)

test('with no AIFI_BASE_URL the server starts on the embedded simulator and prints a curl that works as pasted', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.after(() => child.kill('SIGKILL'))
  let output = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => (output += chunk))
  while (!/curl -sS '/.test(output) || !/embedded AiFi simulator/.test(output)) {
    await Promise.race([once(child.stdout, 'data'), once(child, 'exit').then(() => assert.fail(`exited early:\n${output}`))])
  }

  assert.match(output, /"level":40.*embedded AiFi simulator/, 'a warning says the upstream is simulated')
  const patchCommand = /(curl -sS -X PATCH[\s\S]*?\}\}')/.exec(output)![1]!.replace(/\\\n/g, ' ')
  const { stdout } = await run('bash', ['-c', `${patchCommand} -i`])
  const [head, body] = stdout.split(/\r\n\r\n/) as [string, string]
  assert.match(head, /^HTTP\/1\.1 200/)
  assert.match(head, /x-merge-result: applied/i)
  const session = JSON.parse(body)
  assert.equal(session.metadata.promo, 'WELCOME10')
  assert.equal(session.metadata.loyalty.tier, 'platinum')
  assert.equal(session.metadata.loyalty.points, 120, 'untouched nested keys are kept')
  assert.ok(Array.isArray(session.metadata.events) && session.metadata.events.length > 0, 'events are kept')

  const readCommand = /(curl -sS '[^\n]*)/.exec(output)![1]!
  const read = JSON.parse((await run('bash', ['-c', readCommand])).stdout)
  assert.deepEqual(read.metadata, session.metadata)
})
