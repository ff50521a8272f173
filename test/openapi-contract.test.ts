import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { ERROR_TYPES } from '../src/errors.ts'
import { CALLER_AUTH, SESSIONS, patchSession, startTestApp } from './helper.ts'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const SESSION = '/api/admin/v2/sessions/{sessionId}'

interface Parameter {
  in: string
  name: string
}
interface Operation {
  operationId?: string
  tags?: string[]
  parameters?: Parameter[]
  requestBody?: { content: Record<string, { example?: unknown; examples?: Record<string, { value: unknown }>; schema: Schema }> }
  responses: Record<string, { headers?: Record<string, { required?: boolean; schema: Schema }> }>
}
type Schema = { type?: string; enum?: unknown[]; properties?: Record<string, Schema>; additionalProperties?: unknown; $ref?: string }
interface Document {
  servers: Array<{ url: string }>
  tags: Array<{ name: string }>
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, Schema> }
}

const committed = async () => JSON.parse(await readFile(join(REPO, 'openapi', 'openapi.json'), 'utf8')) as Document
const headerParameters = (operation: Operation) => operation.parameters!.filter((p) => p.in === 'header').map((p) => p.name)

test('each operation has its id and tag, the document its servers, and the error type is the catalogue', async () => {
  const document = await committed()
  const ids = Object.values(document.paths).flatMap((path) => Object.values(path).map((operation) => [operation.operationId, operation.tags]))
  assert.deepEqual(ids, [
    ['getSession', ['sessions']],
    ['patchSession', ['sessions']],
    ['getHealth', ['operations']],
    ['getReadiness', ['operations']],
    ['getMetrics', ['operations']],
  ])
  assert.deepEqual(document.tags.map((tag) => tag.name), ['sessions', 'operations'])
  assert.deepEqual(document.servers.map((server) => server.url), ['/', 'http://127.0.0.1:8080', '{proxyBaseUrl}'])
  assert.deepEqual(document.components.schemas.Error!.properties!.type!.enum, ERROR_TYPES)
  assert.ok(ERROR_TYPES.includes('E_QUOTA_EXHAUSTED') && ERROR_TYPES.includes('E_COORDINATION_LOST'))
})

test('the request headers the proxy reads are parameters of the operations that read them', async () => {
  const document = await committed()
  const session = document.paths[SESSION]!
  assert.deepEqual(headerParameters(session.patch!), ['X-Request-Id', 'If-Match', 'Idempotency-Key', 'traceparent', 'tracestate'])
  assert.deepEqual(headerParameters(session.get!), ['X-Request-Id', 'traceparent', 'tracestate'])
  for (const path of ['/healthz', '/readyz', '/metrics']) assert.deepEqual(headerParameters(document.paths[path]!.get!), ['X-Request-Id'])
  const mergeResult = session.patch!.responses['200']!.headers!['X-Merge-Result']!
  assert.deepEqual(mergeResult, { ...mergeResult, required: true, schema: { type: 'string', enum: ['applied', 'noop', 'dry-run'] } })
})

// Set by Node or by HTTP itself, not by the proxy's contract.
const TRANSPORT_HEADERS = new Set(['content-type', 'content-length', 'date', 'connection', 'keep-alive', 'transfer-encoding'])

test('every header a real answer carries is declared on that operation and status, and every required one is sent', async (t) => {
  const document = await committed()
  const { app, simulator } = await startTestApp(t)
  const id = simulator.createSession({ metadata: { kept: 1 } }).sessionId!
  const url = `${SESSIONS}/${id}`
  const json = { authorization: CALLER_AUTH, 'content-type': 'application/json' }
  const answers: Array<[Operation, Awaited<ReturnType<typeof app.inject>>]> = [
    [document.paths[SESSION]!.get!, await app.inject({ url, headers: { authorization: CALLER_AUTH } })],
    [document.paths[SESSION]!.get!, await app.inject({ url })],
    [document.paths[SESSION]!.get!, await app.inject({ url: `${SESSIONS}/missing`, headers: { authorization: CALLER_AUTH } })],
    [document.paths[SESSION]!.patch!, await patchSession(app, id, { metadata: { a: 1 } }, { headers: { 'idempotency-key': 'k1' } })],
    [document.paths[SESSION]!.patch!, await patchSession(app, id, { metadata: { a: 1 } }, { headers: { 'idempotency-key': 'k1' } })],
    [document.paths[SESSION]!.patch!, await app.inject({ method: 'PATCH', url, headers: { ...json, 'content-type': 'text/plain' }, payload: '{}' })],
    [document.paths[SESSION]!.patch!, await app.inject({ method: 'PATCH', url, headers: { ...json, 'if-match': '"stale"' }, payload: '{}' })],
    [document.paths[SESSION]!.patch!, await app.inject({ method: 'PUT', url, headers: json, payload: '{}' })],
    [document.paths['/readyz']!.get!, await app.inject({ url: '/readyz' })],
    [document.paths['/healthz']!.get!, await app.inject({ method: 'POST', url: '/healthz' })],
  ]
  assert.deepEqual(answers.map(([, answer]) => answer.statusCode), [200, 401, 404, 200, 200, 415, 412, 405, 200, 405])
  assert.equal(answers[4]![1].headers['idempotency-replayed'], 'true')
  for (const [operation, answer] of answers) {
    const declared = operation.responses[String(answer.statusCode)]!.headers!
    const declaredNames = new Map(Object.keys(declared).map((name) => [name.toLowerCase(), name]))
    for (const name of Object.keys(answer.headers).filter((name) => !TRANSPORT_HEADERS.has(name))) {
      assert.ok(declaredNames.has(name), `${operation.operationId} ${answer.statusCode} declares ${name}`)
    }
    for (const [name, header] of Object.entries(declared)) {
      if (header.required) assert.ok(answer.headers[name.toLowerCase()] !== undefined, `${operation.operationId} ${answer.statusCode} sends ${name}`)
    }
  }
})

test("Redocly's recommended rules find no error and no warning, and a rule is only turned off with a reason", async () => {
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' }
  const lint = await promisify(execFile)(join(REPO, 'node_modules', '.bin', 'redocly'), ['lint', '--format=json'], { cwd: REPO, env }).catch(
    (error: { stdout: string }) => error,
  )
  const report = JSON.parse(lint.stdout) as { totals: { errors: number; warnings: number }; problems: Array<{ ruleId: string }> }
  assert.deepEqual(report.problems.map((problem) => problem.ruleId), [])
  assert.deepEqual(report.totals, { ...report.totals, errors: 0, warnings: 0 })

  const config = (await readFile(join(REPO, 'redocly.yaml'), 'utf8')).split('\n')
  assert.match(config.join('\n'), /^\s+root: openapi\/openapi\.json$/m)
  config.forEach((line, index) => {
    if (/:\s*off\s*$/.test(line)) assert.match(config[index - 1]!, /^\s*#/, `${line.trim()} has a comment saying why`)
  })
})

/** What Swagger UI fills in for a media type: its `example`, its first `examples` entry, or a sample of the schema. */
function uiExample(media: NonNullable<Operation['requestBody']>['content'][string], schemas: Document['components']['schemas']): unknown {
  if (media.example !== undefined) return media.example
  const first = Object.values(media.examples ?? {})[0]
  return first === undefined ? sampleOf(media.schema, schemas) : first.value
}

function sampleOf(schema: Schema, schemas: Document['components']['schemas']): unknown {
  if (schema.$ref !== undefined) return sampleOf(schemas[schema.$ref.split('/').at(-1)!]!, schemas)
  if (schema.enum !== undefined) return schema.enum[0]
  if (schema.type === 'object') {
    const sample = Object.fromEntries(Object.entries(schema.properties ?? {}).map(([key, value]) => [key, sampleOf(value, schemas)]))
    if (schema.additionalProperties !== undefined && schema.additionalProperties !== false) {
      for (const n of [1, 2, 3]) sample[`additionalProp${n}`] = 'string'
    }
    return sample
  }
  return { string: 'string', boolean: true, number: 0, integer: 0, array: [] }[schema.type ?? 'string']
}

test('the PATCH Swagger UI fills in is a small merge: sent as is, it never flags the session', async (t) => {
  const document = await committed()
  const { app, simulator } = await startTestApp(t)
  for (const [mediaType, media] of Object.entries(document.paths[SESSION]!.patch!.requestBody!.content)) {
    const example = uiExample(media, document.components.schemas) as Record<string, unknown>
    assert.equal(example.suspectedFraud, undefined, mediaType)
    const id = simulator.createSession({ suspectedFraud: false, metadata: { kept: 1 } }).sessionId!
    const answer = await app.inject({
      method: 'PATCH',
      url: `${SESSIONS}/${id}`,
      headers: { authorization: CALLER_AUTH, 'content-type': mediaType },
      payload: JSON.stringify(example),
    })
    assert.equal(answer.statusCode, 200, answer.body)
    assert.equal(simulator.getSession(id)!.suspectedFraud, false)
    assert.deepEqual(simulator.getSession(id)!.metadata, { kept: 1, ...(example.metadata as object) })
  }
})

test('with NODE_ENV=production there is no Swagger UI, and /openapi.json is the same document', async (t) => {
  const { app } = await startTestApp(t, { env: { NODE_ENV: 'production' } })
  for (const url of ['/docs', '/docs/', '/docs/json']) assert.equal((await app.inject(url)).statusCode, 404, url)
  const served = await app.inject('/openapi.json')
  assert.deepEqual(served.json(), await committed())
})
