import assert from 'node:assert/strict'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { basename, dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { z } from 'zod'

// Reads deploy/ as Compose and nginx would (deploy-manifests.ts: as Kubernetes would), for
// test/deploy-config.test.ts: the environment each proxy container gets, and the parts of each file whose values must
// agree with the proxy's configuration. The schemas hold only what the test asserts on; the rest is left unread.

export const REPO = fileURLToPath(new URL('..', import.meta.url))
export const DEPLOY = join(REPO, 'deploy')
export type Env = Record<string, string>

export const read = (path: string) => readFileSync(path, 'utf8')

/** schema.parse, failing with a message that names the file and every field that does not fit. */
export function parseAs<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const result = schema.safeParse(value)
  if (!result.success) assert.fail(`${where}:\n${z.prettifyError(result.error)}`)
  return result.data
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? filesUnder(join(dir, name)) : [join(dir, name)]))
}

const deployFiles = filesUnder(DEPLOY).map((path) => relative(DEPLOY, path))
export const composeFiles = deployFiles.filter((path) => /^compose\.ya?ml$/.test(basename(path)))
export const kubernetesFiles = deployFiles.filter((path) => path.startsWith('kubernetes/') && /\.ya?ml(\.example)?$/.test(path))
/** YAML files that are neither: a new kind of example this test would otherwise not read. */
export const unreadYamlFiles = deployFiles.filter(
  (path) => /\.ya?ml(\.example)?$/.test(path) && !composeFiles.includes(path) && !kubernetesFiles.includes(path),
)

/** What the image itself sets, under every deployment's own variables: the ENV lines of the Dockerfile's last stage. */
export function imageEnv(): Env {
  const lastStage = read(join(REPO, 'Dockerfile')).split(/^FROM /m).at(-1)!
  const env: Env = {}
  for (const [, pairs] of lastStage.matchAll(/^ENV (.+)$/gm)) {
    for (const pair of pairs!.trim().split(/\s+/)) {
      const [name, value] = pair.split('=', 2)
      assert.ok(name && value !== undefined, `ENV ${pairs} is not in NAME=value form`)
      env[name] = value
    }
  }
  return env
}

/** A Go duration, as Compose takes it (`35s`, `1m30s`, `500ms`); nginx's simple times (`40s`) read the same. */
export function durationMs(text: string): number {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0.001 }
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(h|ms|us|m|s)/g)]
  assert.equal(parts.map(([part]) => part).join(''), text, `${text} is a duration`)
  return parts.reduce((sum, [, amount, unit]) => sum + Number(amount) * units[unit!]!, 0)
}

// Compose ----------------------------------------------------------------------------------------------------------

/** The `.env` format Compose reads: NAME=value lines, optionally quoted; `#` starts a comment. */
function parseDotenv(text: string): Env {
  const env: Env = {}
  for (const [, name, raw] of text.matchAll(/^\s*([A-Za-z_]\w*)=(.*)$/gm)) {
    const quoted = /^(["'])(.*)\1\s*$/.exec(raw!)
    env[name!] = quoted ? quoted[2]! : raw!.replace(/\s+#.*$/, '').trim()
  }
  return env
}

/** Compose's interpolation: `$$`, `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`, `${NAME?error}`. */
function interpolate(value: unknown, vars: Env, where: string): unknown {
  if (Array.isArray(value)) return value.map((item) => interpolate(item, vars, where))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolate(item, vars, where)]))
  }
  if (typeof value !== 'string') return value
  const reference = /\$(?:\$|\{(\w+)(?:(:?[-?])([^}]*))?\}|(\w+))/g
  return value.replace(reference, (match, braced?: string, operator?: string, fallback?: string, bare?: string) => {
    if (match === '$$') return '$'
    const name = (braced ?? bare)!
    const unset = operator?.startsWith(':') ? !vars[name] : vars[name] === undefined
    if (!unset) return vars[name]!
    if (operator?.endsWith('-')) return fallback!
    return assert.fail(`${where}: ${name} is used but neither set in .env.example nor given a default`)
  })
}

// Compose turns numbers and booleans in `environment` into strings.
const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]).transform((value) => (value === null ? '' : String(value)))

const composeServiceSchema = z.object({
  build: z.object({ context: z.string().default('.'), dockerfile: z.string().default('Dockerfile') }).optional(),
  image: z.string().optional(),
  environment: z.union([z.record(z.string(), scalar), z.array(z.string())]).default({}),
  env_file: z.unknown().optional(),
  stop_grace_period: z.string().optional(),
  healthcheck: z.object({ test: z.union([z.string(), z.array(z.string())]).transform((test) => [test].flat().join(' ')) }).optional(),
  depends_on: z
    .union([z.array(z.string()), z.record(z.string(), z.object({ condition: z.string().default('service_started') }))])
    .optional(),
  ports: z.array(z.unknown()).default([]),
  volumes: z.array(z.string()).default([]),
  deploy: z.object({ replicas: z.number().int().optional() }).optional(),
})
export type ComposeService = z.infer<typeof composeServiceSchema>

export function loadCompose(file: string) {
  const dir = dirname(join(DEPLOY, file))
  const vars = parseDotenv(read(join(dir, '.env.example')))
  const composeSchema = z.object({ services: z.record(z.string(), composeServiceSchema) })
  const model = parseAs(composeSchema, interpolate(parse(read(join(DEPLOY, file)), { merge: true }), vars, file), file)
  // The proxy's replicas are the services built from the repository's Dockerfile.
  const replicas = Object.entries(model.services).filter(([, service]) => service.build !== undefined)
  return { dir, services: model.services, replicas }
}

/** What a replica's process sees: the image's ENV under the service's `environment`. */
export function composeEnvironment(service: ComposeService): Env {
  // env_file is not modelled here: the replicas take their variables from `environment` only.
  assert.equal(service.env_file, undefined, 'a replica has an env_file')
  const { environment } = service
  const entries = Array.isArray(environment)
    ? environment.map((line) => [line.split('=')[0]!, line.slice(line.indexOf('=') + 1)])
    : Object.entries(environment)
  return { ...imageEnv(), ...Object.fromEntries(entries) }
}

const escapeRegExp = (text: string) => text.replace(/[$()*+.?[\\\]^{|}]/g, '\\$&')

/** nginx's configuration without its comments: the `server` entries of each upstream block, and simple directives. */
export function readNginx(path: string) {
  const text = read(path).replace(/#.*$/gm, '')
  const upstreams = new Map<string, string[]>()
  for (const [, name, body] of text.matchAll(/upstream\s+(\S+)\s*\{([^}]*)\}/g)) {
    upstreams.set(name!, [...body!.matchAll(/^\s*server\s+([^\s;]+)/gm)].map(([, address]) => address!))
  }
  return {
    upstreams,
    /** The arguments of every `name ...;` directive (`name` a regular expression). */
    directives: (name: string) => [...text.matchAll(new RegExp(`^\\s*(?:${name})\\b([^;{]*);`, 'gm'))].map(([, value]) => value!.trim()),
    /** The body of `map <from> <to> { ... }`. */
    map: (from: string, to: string) => new RegExp(`map\\s+${escapeRegExp(from)}\\s+${escapeRegExp(to)}\\s*\\{([^}]*)\\}`).exec(text)?.[1],
  }
}

/** An nginx size: `1m`, `256k`, or bytes. */
export function nginxBytes(text: string): number {
  const size = /^(\d+)([km]?)$/i.exec(text)
  assert.ok(size !== null, `${text} is a size`)
  return Number(size[1]) * { '': 1, k: 1 << 10, m: 1 << 20 }[size[2]!.toLowerCase() as '' | 'k' | 'm']
}
