import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual, parseArgs } from 'node:util'
import { buildLocalApp } from '../src/local-app.ts'
import { loadConfig } from '../src/config.ts'

// `npm run openapi` writes openapi/openapi.json from the routes' zod schemas; `npm run openapi:check` exits 1
// when the committed file differs from it (compared as JSON, as docs/http-api.md#operations-endpoints says). A path argument overrides the file.
const { values, positionals } = parseArgs({ options: { check: { type: 'boolean', default: false } }, allowPositionals: true })
const target = positionals[0] ?? fileURLToPath(new URL('../openapi/openapi.json', import.meta.url))

// The document depends on no setting; this configuration only has to be valid. Nothing is ever called.
const config = loadConfig({ AIFI_BASE_URL: 'http://aifi.invalid', AIFI_API_TOKEN: 'unused', PROXY_API_KEYS: 'openapi:unused' })
const app = await buildLocalApp(config, {
  baseUrl: config.aifiBaseUrl!,
  auth: { mode: 'service', callerKeys: config.callerKeys!, upstreamToken: config.aifiApiToken! },
})
await app.ready()
// Round-tripped so it compares as the JSON the file holds.
const document = JSON.parse(JSON.stringify(app.swagger())) as unknown
await app.close()

const shown = relative(process.cwd(), target)
if (values.check) {
  const committed = await readFile(target, 'utf8').then((text) => JSON.parse(text) as unknown, () => undefined)
  if (!isDeepStrictEqual(committed, document)) {
    process.stderr.write(`${shown} is missing or out of date: run npm run openapi and commit the result\n`)
    process.exit(1)
  }
  process.stdout.write(`${shown} is up to date\n`)
} else {
  await mkdir(dirname(target), { recursive: true })
  await writeFile(target, `${JSON.stringify(document, null, 2)}\n`)
  process.stdout.write(`wrote ${shown}\n`)
}
