import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** The local addresses of the TCP sockets listening on `port`, as Linux lists them in /proc/net/tcp and tcp6. */
async function listeningAddresses(port: number): Promise<string[]> {
  const addresses: string[] = []
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const table = await readFile(file, 'utf8').catch(() => '')
    for (const line of table.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/)
      const [hex, portHex] = (local ?? '').split(':')
      // 0A is LISTEN. IPv4 addresses are one little-endian 32-bit word.
      if (state !== '0A' || parseInt(portHex ?? '', 16) !== port || hex === undefined) continue
      addresses.push(hex.length === 8 ? [...hex.match(/../g)!].reverse().map((byte) => parseInt(byte, 16)).join('.') : `[${hex}]`)
    }
  }
  return addresses
}

test('with no AIFI_BASE_URL the server listens on 127.0.0.1 only, on the embedded simulator, and prints commands that work as pasted', async (t) => {
  // No HOST: the demo default applies.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { PATH: process.env.PATH, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.after(() => child.kill('SIGKILL'))
  let output = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => (output += chunk))
  while (!/^ {2}BASE=/m.test(output) || !/embedded AiFi simulator/.test(output)) {
    await Promise.race([once(child.stdout, 'data'), once(child, 'exit').then(() => assert.fail(`exited early:\n${output}`))])
  }

  assert.match(output, /"level":40.*embedded AiFi simulator/, 'a warning says the upstream is simulated')
  const port = Number(/Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(output)![1])
  assert.deepEqual(await listeningAddresses(port), ['127.0.0.1'], 'not on every interface, with a demo key printed')
  assert.match(output, /Two commands to try/)

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

  // The README's examples, pasted after the banner's KEY, SESSION and BASE lines.
  const variables = output.match(/^ {2}(KEY|SESSION|BASE)=.*$/gm)!
  assert.deepEqual(variables.map((line) => line.trim().split('=')[0]), ['KEY', 'SESSION', 'BASE'])
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
  const examples = /## Examples\n+```sh\n([\s\S]*?)```/.exec(readme)![1]!
  const pasted = examples.split('\n').filter((line) => !/^(KEY|SESSION|BASE)=/.test(line))
  // Every curl also prints its status on a line of its own, so each example's answer can be checked.
  const script = [`curl() { command curl -w '\\n-> %{http_code}\\n' "$@"; }`, ...variables, ...pasted, 'curl -sS "$BASE/$SESSION" -H "Authorization: Bearer $KEY"'].join('\n')
  const lines = (await run('bash', ['-e', '-c', script])).stdout.split('\n')
  const statuses = lines.filter((line) => line.startsWith('-> '))
  assert.deepEqual(statuses, Array(statuses.length).fill('-> 200'), lines.join('\n'))
  assert.equal(statuses.length, 6, 'five examples print an answer, and the final read')
  const final = JSON.parse(lines.at(-3)!)
  assert.equal(final.metadata.loyalty.tier, 'gold')
  assert.equal(final.metadata.promo, undefined, 'deleted, and the preview wrote nothing')
  assert.equal(final.metadata.checked, true, 'the If-Match write applied: the ETag was read back')
  assert.equal(final.metadata.tier, 'gold')
})
