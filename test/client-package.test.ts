import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { CALLER_SECRET, listenOnFreePort, startTestApp } from './helper.ts'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const run = promisify(execFile)
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc')

interface Manifest {
  exports: Record<string, { types: string; default: string }>
  scripts: Record<string, string>
  dependencies?: Record<string, string>
}

test("this package's tarball (npm pack, a git install) builds the client and exports it as ./client", async () => {
  const manifest = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as Manifest
  const exported = manifest.exports['./client']!
  assert.deepEqual(exported, { types: './dist/client/index.d.ts', default: './dist/client/index.js' })
  // `prepare` runs on npm pack and on a git install, so the tarball carries what the export names.
  assert.match(manifest.scripts.prepare!, /build:client/)
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts=false'], { cwd: REPO })
  const files = new Set((JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((file) => file.path))
  for (const target of Object.values(exported)) assert.ok(files.has(target.slice(2)), target)
  assert.ok(![...files].some((file) => file.startsWith('src/') || file.startsWith('test/')), 'only the client is shipped')
})

// A consumer that writes strict TypeScript: the wire types must be the document's, not `string` or `unknown`.
const CONSUMER = `
import { createClient, MergeProxyError, type MergeProxyErrorType, type MergeResult } from 'aifi-merge-proxy/client'
const proxy = createClient({ baseUrl: 'http://127.0.0.1:8080', apiKey: 'key' })
export async function raiseTier(id: string): Promise<MergeResult> {
  const { mergeResult, etag } = await proxy.merge(id, { metadata: { tier: 'gold' } }, { idempotencyKey: 'k' })
  await proxy.merge(id, { metadata: { seen: true } }, { ifMatch: etag, dryRun: true })
  return mergeResult
}
export function retryable(error: unknown): boolean {
  const type: MergeProxyErrorType | undefined = error instanceof MergeProxyError ? error.type : undefined
  return type === 'E_QUOTA_EXHAUSTED' || type === 'E_COORDINATION_LOST' || type === 'E_CLIENT_NETWORK'
}
// @ts-expect-error the error types are the proxy's catalogue, not any string
export const madeUp: MergeProxyErrorType = 'E_MADE_UP'
// @ts-expect-error X-Merge-Result is applied, noop or dry-run
export const merged: MergeResult = 'merged'
// @ts-expect-error suspectedFraud can only be raised
void proxy.merge('s', { suspectedFraud: false })
`

const CONSUMER_TSCONFIG = {
  compilerOptions: {
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noEmit: true,
    skipLibCheck: false,
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'es2023',
    lib: ['es2023'],
    types: ['node'],
    typeRoots: [join(REPO, 'node_modules', '@types')],
  },
  files: ['consumer.ts'],
}

// Plain Node, no loader: a merge through a running proxy.
const PLAIN_NODE = `
import { createClient } from 'aifi-merge-proxy/client'
const [baseUrl, apiKey, sessionId] = process.argv.slice(2)
const outcome = await createClient({ baseUrl, apiKey }).merge(sessionId, { metadata: { tier: 'gold' } })
process.stdout.write(JSON.stringify({ mergeResult: outcome.mergeResult, metadata: outcome.session.metadata }))
`

test('npm run pack:client makes a tarball that installs offline, imports from plain Node and type-checks strictly', async (t) => {
  const folder = await mkdtemp(join(tmpdir(), 'client-package-'))
  t.after(() => rm(folder, { recursive: true, force: true }))
  const consumer = join(folder, 'consumer')
  await mkdir(consumer)
  const [{ stdout: packed }] = await Promise.all([
    run(process.execPath, ['--import', 'tsx', 'scripts/pack-client.ts', folder], { cwd: REPO }),
    writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' })),
    writeFile(join(consumer, 'consumer.ts'), CONSUMER),
    writeFile(join(consumer, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG)),
    writeFile(join(consumer, 'merge.mjs'), PLAIN_NODE),
  ])
  const tarball = packed.trim()
  // --offline: the client needs nothing from a registry, so it has no dependency to fetch.
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: consumer })
  const installed = JSON.parse(await readFile(join(consumer, 'node_modules', 'aifi-merge-proxy', 'package.json'), 'utf8')) as Manifest
  assert.equal(installed.dependencies, undefined)

  const { app, simulator } = await startTestApp(t)
  const port = await listenOnFreePort(app)
  const id = simulator.createSession({ metadata: { kept: 1 } }).sessionId!
  const [merge] = await Promise.all([
    run(process.execPath, ['merge.mjs', `http://127.0.0.1:${port}`, CALLER_SECRET, id], { cwd: consumer }),
    run(process.execPath, [TSC, '-p', '.'], { cwd: consumer }).catch((error: { stdout: string }) => assert.fail(error.stdout)),
  ])
  assert.deepEqual(JSON.parse(merge.stdout), { mergeResult: 'applied', metadata: { kept: 1, tier: 'gold' } })
})
