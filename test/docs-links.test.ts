import assert from 'node:assert/strict'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

// Comments and the README point at docs/ sections by anchor; a renamed heading must not leave them dangling.

const root = new URL('..', import.meta.url).pathname
const REFERENCE = /docs\/([\w-]+\.md)#([\w-]+)/g

function filesUnder(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name)
    return statSync(join(root, path)).isDirectory() ? filesUnder(path) : [path]
  })
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchorsOf(file: string): Set<string> {
  const headings = readFileSync(join(root, 'docs', file), 'utf8').match(/^#+ .+$/gm) ?? []
  return new Set(headings.map((heading) => heading.replace(/^#+ /, '').toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')))
}

test('every docs/ section that code, tests and the README cite exists', () => {
  const sources = ['README.md', ...['src', 'test', 'bench', 'scripts', 'client', 'deploy'].flatMap(filesUnder)].filter((file) =>
    /\.(ts|md|ya?ml|conf)$/.test(file),
  )
  const dangling: string[] = []
  let cited = 0
  for (const file of sources) {
    for (const [reference, doc, anchor] of readFileSync(join(root, file), 'utf8').matchAll(REFERENCE)) {
      cited++
      let anchors: Set<string>
      try {
        anchors = anchorsOf(doc!)
      } catch {
        anchors = new Set()
      }
      if (!anchors.has(anchor!)) dangling.push(`${file}: ${reference}`)
    }
  }
  assert.ok(cited > 20, `only ${cited} citations found`)
  assert.deepEqual(dangling, [])
})
