import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs, promisify } from 'node:util'

// `npm run pack:client [-- <folder>]`: the client library alone as an npm tarball, named like this package, so a
// service runs `npm install ./aifi-merge-proxy-<version>.tgz` and imports `aifi-merge-proxy/client`, offline: the
// client needs nothing but Node.js. This package's own tarball (`npm pack`, or a git install) carries the same
// `./client` export, but also the server's dependencies, which npm would install with it (README, "Client library").
const { positionals } = parseArgs({ allowPositionals: true })
const destination = resolve(positionals[0] ?? '.')
const repo = fileURLToPath(new URL('..', import.meta.url))
const run = promisify(execFile)

interface Manifest {
  name: string
  version: string
  description: string
  license: string
  engines: Record<string, string>
  exports: Record<string, unknown>
}
const manifest = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as Manifest

const staging = await mkdtemp(join(tmpdir(), 'aifi-merge-proxy-client-'))
try {
  // Sources are not shipped, so neither are maps that point at them.
  const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc')
  const noMaps = ['--sourceMap', 'false', '--declarationMap', 'false']
  await run(process.execPath, [tsc, '-p', join(repo, 'tsconfig.client.json'), '--outDir', join(staging, 'dist', 'client'), ...noMaps])
  const client = {
    name: manifest.name,
    version: manifest.version,
    description: `The client library of ${manifest.name}: ${manifest.description}`,
    license: manifest.license,
    type: 'module',
    engines: manifest.engines,
    exports: manifest.exports,
    files: ['dist/client'],
    sideEffects: false,
  }
  await writeFile(join(staging, 'package.json'), `${JSON.stringify(client, null, 2)}\n`)
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', destination], { cwd: staging })
  const [packed] = JSON.parse(stdout) as [{ filename: string }]
  process.stdout.write(`${join(destination, packed.filename)}\n`)
} finally {
  await rm(staging, { recursive: true, force: true })
}
