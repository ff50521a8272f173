import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { errorTypesWithStatus } from '../src/errors.ts'
import { startTestApp } from './helper.ts'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const COMMITTED = join(REPO, 'openapi', 'openapi.json')

interface Operation {
  security?: unknown[]
  requestBody?: { content: Record<string, unknown> }
  responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>
}
type Document = { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, { required?: string[] }> } }

const SESSION = '/api/admin/v2/sessions/{sessionId}'

async function servedDocument(t: Parameters<typeof startTestApp>[0], options: Parameters<typeof startTestApp>[1] = {}) {
  const { app, simulator } = await startTestApp(t, options)
  const response = await app.inject('/openapi.json')
  assert.equal(response.statusCode, 200)
  return { text: response.body, document: response.json() as Document, upstream: new URL(simulator.url).host }
}

test('the committed openapi/openapi.json is what the service serves at /openapi.json', async (t) => {
  const committed = JSON.parse(await readFile(COMMITTED, 'utf8')) as unknown
  const { document } = await servedDocument(t)
  assert.deepEqual(document, committed, 'out of date: run npm run openapi')
})

test('the document is the same whatever the configuration, port or keys', async (t) => {
  const service = await servedDocument(t, { env: { BODY_LIMIT_BYTES: '1024', MAX_DEPTH: '3', AIFI_MAX_RPS: '5' } })
  const forward = await servedDocument(t, { auth: 'forward' })
  assert.equal(service.text, forward.text)
  // The servers are fixed (npm start's address among them); the upstream the run uses is nowhere.
  for (const leak of [service.upstream, 'sim-token', 'test-secret', 'second-key']) assert.ok(!service.text.includes(leak), leak)
})

test('every operation documents each error it can answer, in the error shape, by type', async (t) => {
  const { document } = await servedDocument(t)
  assert.deepEqual(document.components.schemas.Error!.required, ['message', 'type', 'errors', 'requestId'])
  const allTypes = Array.from({ length: 200 }, (_, i) => errorTypesWithStatus(400 + i)).flat()
  const errorsOf = (operation: Operation) =>
    Object.entries(operation.responses).filter(([status]) => Number(status) >= 400)

  const patch = document.paths[SESSION]!.patch!
  const get = document.paths[SESSION]!.get!
  for (const [operation, statuses] of [
    [patch, ['400', '401', '404', '405', '408', '409', '412', '413', '415', '422', '500', '502', '503', '504']],
    [get, ['401', '404', '405', '408', '500', '502', '503', '504']],
  ] as const) {
    assert.deepEqual(errorsOf(operation).map(([status]) => status), statuses)
    for (const [status, response] of errorsOf(operation)) {
      assert.deepEqual(response.content!['application/json']!.schema, { $ref: '#/components/schemas/Error' }, status)
      assert.equal(response.description, `Error: ${errorTypesWithStatus(Number(status)).join(', ')}`)
    }
  }
  // A type added to the catalogue with a status the PATCH route does not declare would be missing here.
  const documented = errorsOf(patch).map(([, response]) => response.description).join(' ')
  for (const type of allTypes) assert.match(documented, new RegExp(`\\b${type}\\b`))
  // Any route answers 405 to another method, 408 to a request too slow to arrive, and 500 to a fault.
  for (const operation of [document.paths['/healthz']!.get!, document.paths['/readyz']!.get!, document.paths['/metrics']!.get!]) {
    assert.deepEqual(errorsOf(operation).map(([status]) => status).filter((status) => status !== '503'), ['405', '408', '500'])
  }

  assert.deepEqual(Object.keys(patch.requestBody!.content), ['application/json', 'application/merge-patch+json'])
  assert.deepEqual(document.paths['/readyz']!.get!.security, [], 'probes need no credentials')
  assert.deepEqual(Object.keys(document.paths['/readyz']!.get!.responses), ['200', '405', '408', '500', '503'])
  assert.ok(document.paths['/metrics']!.get!.responses['200']!.content!['text/plain; version=0.0.4; charset=utf-8'])
})

test('/docs serves Swagger UI over the same document', async (t) => {
  const { app } = await startTestApp(t)
  const page = await app.inject('/docs/')
  assert.equal(page.statusCode, 200)
  assert.match(String(page.headers['content-type']), /^text\/html/)
  const [fromDocs, served] = await Promise.all([app.inject('/docs/json'), app.inject('/openapi.json')])
  assert.deepEqual(fromDocs.json(), served.json())
})

test('npm run openapi writes the committed file, and openapi:check fails when a file differs', async (t) => {
  const folder = await mkdtemp(join(tmpdir(), 'openapi-'))
  t.after(() => rm(folder, { recursive: true, force: true }))
  const script = (...args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/write-openapi.ts', ...args], { cwd: REPO })

  const written = join(folder, 'written.json')
  const stale = join(folder, 'stale.json')
  const committed = await readFile(COMMITTED, 'utf8')
  await writeFile(stale, committed.replace('"title": "aifi-merge-proxy"', '"title": "something else"'))
  const [, staleCheck] = await Promise.all([script(written), script('--check', stale).catch((error: { code: number; stderr: string }) => error)])

  assert.equal(await readFile(written, 'utf8'), committed, 'the committed file is byte for byte what npm run openapi writes')
  assert.equal((staleCheck as { code: number }).code, 1)
  assert.match((staleCheck as { stderr: string }).stderr, /out of date: run npm run openapi/)
  await script('--check', written)
})
