import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { startSimulator } from '../src/simulator/simulator.ts'
import { CALLER_AUTH, CALLER_SECRET, SESSIONS, rawRequest } from './helper.ts'
import { startServerProcess } from './cluster-helper.ts'
import { readImageCommand } from '../scripts/image-command.ts'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const run = promisify(execFile)

/** The Dockerfile's stages, each as its instructions (continuation lines joined). */
async function readDockerfile() {
  const text = (await readFile(join(REPO, 'Dockerfile'), 'utf8')).replace(/\\\n\s*/g, '')
  const instructions = text.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('#'))
  const stages: string[][] = []
  for (const line of instructions) {
    if (line.startsWith('FROM ')) stages.push([])
    stages.at(-1)?.push(line)
  }
  return stages
}

test('the Dockerfile builds in one stage and runs production dependencies only, unprivileged, with a health check', async () => {
  const stages = await readDockerfile()
  assert.ok(stages.length >= 2, 'multi-stage')
  const [build, runtime] = [stages[0]!, stages.at(-1)!]
  assert.ok(build.some((line) => /^RUN npm ci\b/.test(line)) && build.some((line) => line === 'RUN npm run build'))
  assert.ok(runtime.some((line) => /^RUN npm ci --omit=dev\b/.test(line)))
  assert.ok(runtime.some((line) => /^COPY --from=\S+ \/app\/dist/.test(line)), 'the runtime takes dist from the build stage')
  assert.ok(!runtime.some((line) => /^COPY (src|\.)\b/.test(line)), 'no sources in the runtime stage')
  assert.ok(runtime.includes('ENV NODE_ENV=production'))
  assert.ok(runtime.includes('USER node'), 'not root')
  assert.ok(runtime.some((line) => /^EXPOSE \d+$/.test(line)))
  assert.match(runtime.find((line) => line.startsWith('HEALTHCHECK'))!, /CMD \["node", /)
  assert.ok(!runtime.some((line) => /\b(curl|wget)\b/.test(line)), 'slim images have neither')

  const ignored = (await readFile(join(REPO, '.dockerignore'), 'utf8')).split('\n')
  for (const entry of ['node_modules', 'dist', '.git', '.env']) assert.ok(ignored.includes(entry), entry)
})

test('the image runs a Node.js major that CI runs the suite on, and engines names exactly the majors CI tests', async () => {
  const stages = await readDockerfile()
  const imageMajors = new Set(stages.map((stage) => /^FROM node:(\d+)-/.exec(stage[0]!)?.[1]))
  assert.equal(imageMajors.size, 1, 'every stage on the same Node.js')
  const [imageMajor] = imageMajors
  const ci = await readFile(join(REPO, '.ci', 'run'), 'utf8')
  const tested = /^NODE_MAJORS="([\d ]+)"$/m.exec(ci)![1]!.split(' ')
  assert.ok(tested.includes(imageMajor!), `the image's Node.js ${imageMajor} is one .ci/run tests on`)
  const { engines } = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { engines: { node: string } }
  const allowed = engines.node.split('||').map((range) => /^\^(\d+)\.\d+\.\d+$/.exec(range.trim())![1])
  assert.deepEqual(allowed, tested, 'engines promises the majors the suite runs on, no more')
})

test('@types/node, the README and docs/operations.md#runtime name the Node.js majors engines promises', async () => {
  const manifest = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
    engines: { node: string }
    devDependencies: Record<string, string>
  }
  const majors = manifest.engines.node.split('||').map((range) => Number(/^\^(\d+)\./.exec(range.trim())![1]))
  const oldest = Math.min(...majors)
  // Types of a newer major would let the code use an API the oldest supported one lacks.
  assert.equal(/^\^?(\d+)\./.exec(manifest.devDependencies['@types/node']!)![1], String(oldest))

  const readme = await readFile(join(REPO, 'README.md'), 'utf8')
  const operations = await readFile(join(REPO, 'docs', 'operations.md'), 'utf8')
  const runtime = operations.slice(operations.indexOf('## Runtime'), operations.indexOf('\n## ', operations.indexOf('## Runtime') + 1))
  for (const [name, text] of [['README.md', readme], ['docs/operations.md#runtime', runtime]] as const) {
    const named = new Set([...text.matchAll(/Node\.js (\d+)\b/g)].map((match) => Number(match[1])))
    for (const major of majors) assert.ok(named.has(major), `${name} names Node.js ${major}`)
    // An older major may only be named as one that is not supported.
    for (const major of named) {
      if (!majors.includes(major)) assert.match(text, new RegExp(`Node\\.js ${major}\\s+is not supported`), `${name} names Node.js ${major}`)
    }
  }
})

test('the runtime stage without Docker: a production-only install of the build serves health and merges', async (t) => {
  const folder = await mkdtemp(join(tmpdir(), 'runtime-image-'))
  t.after(() => rm(folder, { recursive: true, force: true }))
  for (const file of ['package.json', 'package-lock.json']) await copyFile(join(REPO, file), join(folder, file))
  // The build stage's `npm run build` (into this folder) and the runtime stage's install, side by side.
  await Promise.all([
    run('npm', ['run', 'build', '--', '--outDir', join(folder, 'dist')], { cwd: REPO }),
    run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline'], { cwd: folder }),
  ])
  for (const devOnly of ['typescript', 'tsx', 'eslint']) {
    await assert.rejects(stat(join(folder, 'node_modules', devOnly)), `${devOnly} is a dev dependency`)
  }

  const simulator = await startSimulator({ port: 0 })
  t.after(() => simulator.close())
  const [node, ...imageArgs] = await readImageCommand()
  assert.equal(node, 'node')
  const server = await startServerProcess(t, {
    args: imageArgs,
    cwd: folder,
    env: { NODE_ENV: 'production', AIFI_BASE_URL: simulator.url, AIFI_API_TOKEN: simulator.token, PROXY_API_KEYS: `tester:${CALLER_SECRET}` },
  })

  assert.equal((await rawRequest(server.port, 'GET', '/healthz')).status, 200)
  const id = simulator.createSession({ metadata: { events: [{ eventId: 'e1' }], kept: 1 } }).sessionId!
  const merge = await rawRequest(server.port, 'PATCH', `${SESSIONS}/${id}`, {
    headers: { authorization: CALLER_AUTH, 'content-type': 'application/merge-patch+json' },
    body: JSON.stringify({ metadata: { tier: 'gold' } }),
  })
  assert.equal(merge.status, 200)
  assert.equal(merge.headers['x-merge-result'], 'applied')
  assert.deepEqual(simulator.getSession(id)!.metadata, { events: [{ eventId: 'e1' }], kept: 1, tier: 'gold' })
  const served = await rawRequest(server.port, 'GET', '/openapi.json')
  assert.deepEqual(JSON.parse(served.body), JSON.parse(await readFile(join(REPO, 'openapi', 'openapi.json'), 'utf8')))

  // The image's HEALTHCHECK command, as Docker would run it inside the container.
  const healthcheck = (await readDockerfile()).at(-1)!.find((line) => line.startsWith('HEALTHCHECK'))!
  const [command, ...args] = JSON.parse(healthcheck.slice(healthcheck.indexOf('CMD ') + 4)) as string[]
  assert.equal(command, 'node')
  await run(process.execPath, args, { env: { PORT: String(server.port) } })

  server.kill('SIGTERM')
  assert.equal(await server.exited, 0)
})
