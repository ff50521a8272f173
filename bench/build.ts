import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// The proxy and the simulator run as production does, from `tsc -p tsconfig.build.json` output under plain
// node: tsx's in-process loader would add about 35 MB to the RSS being measured, which no deployment carries.

const ROOT = fileURLToPath(new URL('..', import.meta.url))

export interface Build {
  /** The compiled src/ (server.js, simulator/main.js, ...). */
  dist: string
  remove(): void
}

/** Compiles src/ into dist/ of a temporary folder laid out like the repository: package.json and node_modules beside it. */
export async function buildSources(): Promise<Build> {
  const folder = mkdtempSync(join(tmpdir(), 'aifi-bench-'))
  const remove = () => rmSync(folder, { recursive: true, force: true })
  try {
    for (const entry of ['node_modules', 'package.json']) symlinkSync(join(ROOT, entry), join(folder, entry))
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
    const dist = join(folder, 'dist')
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', dist], { cwd: ROOT, stdio: 'inherit' })
      child.once('error', reject)
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`tsc exited with ${code}`))))
    })
    return { dist, remove }
  } catch (error) {
    remove()
    throw error
  }
}
