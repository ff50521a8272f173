import { readFile, writeFile } from 'node:fs/promises'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import openapiTS, { COMMENT_HEADER, astToString } from 'openapi-typescript'

// `npm run client:types` writes client/openapi-types.ts from the committed openapi/openapi.json with
// openapi-typescript; `--check` exits 1 when the committed file differs from what it would write, so the client's
// types cannot drift from the API (`npm run openapi:check` runs both checks). Positional arguments override the
// document and the output file.
const { values, positionals } = parseArgs({ options: { check: { type: 'boolean', default: false } }, allowPositionals: true })
const source = positionals[0] ?? fileURLToPath(new URL('../openapi/openapi.json', import.meta.url))
const target = positionals[1] ?? fileURLToPath(new URL('../client/openapi-types.ts', import.meta.url))

const document = JSON.parse(await readFile(source, 'utf8')) as Parameters<typeof openapiTS>[0]
const generated = `${COMMENT_HEADER}${astToString(await openapiTS(document, { silent: true }))}`

const shown = relative(process.cwd(), target)
if (values.check) {
  const committed = await readFile(target, 'utf8').catch(() => undefined)
  if (committed !== generated) {
    process.stderr.write(`${shown} is missing or out of date: run npm run client:types and commit the result\n`)
    process.exit(1)
  }
  process.stdout.write(`${shown} is up to date\n`)
} else {
  await writeFile(target, generated)
  process.stdout.write(`wrote ${shown}\n`)
}
