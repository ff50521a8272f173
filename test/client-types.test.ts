import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const DOCUMENT = join(REPO, 'openapi', 'openapi.json')
const COMMITTED = join(REPO, 'client', 'openapi-types.ts')

test('the committed client/openapi-types.ts is what openapi-typescript makes of openapi/openapi.json', async (t) => {
  const folder = await mkdtemp(join(tmpdir(), 'client-types-'))
  t.after(() => rm(folder, { recursive: true, force: true }))
  const script = (...args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/write-client-types.ts', ...args], { cwd: REPO })
  const failure = (error: { code: number; stderr: string }) => error

  const edited = join(folder, 'edited.ts')
  await writeFile(edited, (await readFile(COMMITTED, 'utf8')).replace('sessionToken?: string;', 'sessionToken?: number;'))
  const changedApi = join(folder, 'openapi.json')
  await writeFile(changedApi, (await readFile(DOCUMENT, 'utf8')).replace('"sessionToken": {', '"renamedToken": {'))
  const [, editedCheck, changedCheck] = await Promise.all([
    script('--check'),
    script('--check', DOCUMENT, edited).catch(failure),
    script('--check', changedApi, COMMITTED).catch(failure),
  ])

  for (const check of [editedCheck, changedCheck]) {
    assert.equal((check as { code: number }).code, 1)
    assert.match((check as { stderr: string }).stderr, /out of date: run npm run client:types/)
  }
})
