import assert from 'node:assert/strict'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { z } from 'zod'
import { DEPLOY, imageEnv, kubernetesFiles, parseAs, read, type Env } from './deploy-files.ts'

// Reads deploy/kubernetes/ as kubectl and the kubelet would, for test/deploy-config.test.ts. The schemas hold only
// what the test asserts on; the rest of each manifest is left unread.

const labelsSchema = z.record(z.string(), z.string())
const metadataSchema = z.object({ name: z.string(), labels: labelsSchema.default({}) })
const portRefSchema = z.union([z.number().int(), z.string()])
const nameRefSchema = z.object({ name: z.string() })
const keyRefSchema = z.object({ name: z.string(), key: z.string() })
const probeSchema = z.object({ httpGet: z.object({ path: z.string(), port: portRefSchema }).optional() })

const containerSchema = z.object({
  name: z.string(),
  image: z.string(),
  ports: z.array(z.object({ name: z.string().optional(), containerPort: z.number().int() })).default([]),
  envFrom: z
    .array(z.object({ configMapRef: nameRefSchema, secretRef: nameRefSchema, prefix: z.string() }).partial())
    .default([]),
  env: z
    .array(
      z.object({
        name: z.string(),
        value: z.string().optional(),
        valueFrom: z.object({ configMapKeyRef: keyRefSchema, secretKeyRef: keyRefSchema }).partial().optional(),
      }),
    )
    .default([]),
  readinessProbe: probeSchema.optional(),
  livenessProbe: probeSchema.optional(),
  lifecycle: z
    .object({
      preStop: z.object({ sleep: z.object({ seconds: z.number() }), exec: z.object({ command: z.array(z.string()) }) }).partial().optional(),
    })
    .optional(),
  resources: z.object({ requests: z.record(z.string(), portRefSchema), limits: z.record(z.string(), portRefSchema) }).partial().default({}),
  securityContext: z.object({ readOnlyRootFilesystem: z.boolean() }).partial().default({}),
})
export type Container = z.infer<typeof containerSchema>

// Kubernetes takes only strings as ConfigMap and Secret values: an unquoted 20 is refused at apply time.
const SCHEMAS = {
  ConfigMap: z.object({ metadata: metadataSchema, data: z.record(z.string(), z.string()) }),
  Secret: z.object({ metadata: metadataSchema, stringData: z.record(z.string(), z.string()) }),
  Deployment: z.object({
    metadata: metadataSchema,
    spec: z.object({
      replicas: z.number().int(),
      selector: z.object({ matchLabels: labelsSchema }),
      template: z.object({
        metadata: z.object({ labels: labelsSchema }),
        spec: z.object({
          terminationGracePeriodSeconds: z.number().int().default(30),
          securityContext: z.object({ runAsNonRoot: z.boolean(), runAsUser: z.number().int() }).partial().default({}),
          containers: z.array(containerSchema).min(1),
        }),
      }),
    }),
  }),
  Service: z.object({
    metadata: metadataSchema,
    spec: z.object({
      selector: labelsSchema,
      ports: z.array(z.object({ port: z.number().int(), targetPort: portRefSchema.optional() })),
    }),
  }),
  PodDisruptionBudget: z.object({
    metadata: metadataSchema,
    spec: z.object({ selector: z.object({ matchLabels: labelsSchema }) }),
  }),
}
type Kind = keyof typeof SCHEMAS
const manifestSchema = z.object({ apiVersion: z.string(), kind: z.string(), metadata: metadataSchema })
type Manifest<K extends Kind> = z.infer<(typeof SCHEMAS)[K]> & { file: string }

export function loadManifests() {
  const byKind = new Map<string, Array<{ file: string }>>()
  for (const file of kubernetesFiles) {
    for (const doc of parseAllDocuments(read(join(DEPLOY, file)))) {
      assert.deepEqual(doc.errors, [], file)
      const json: unknown = doc.toJS()
      const { kind, metadata } = parseAs(manifestSchema, json, file)
      const schema = SCHEMAS[kind as Kind] as z.ZodType<object> | undefined
      // Kinds no assertion reads (NetworkPolicy, ...) are only checked for apiVersion, kind and name.
      const manifest = { ...(schema === undefined ? {} : parseAs(schema, json, `${file} ${kind} ${metadata.name}`)), file }
      byKind.set(kind, [...(byKind.get(kind) ?? []), manifest])
    }
  }
  const all = <K extends Kind>(kind: K) => (byKind.get(kind) ?? []) as Array<Manifest<K>>
  const named = <K extends Kind>(kind: K, name: string) => {
    const found = all(kind).find((manifest) => manifest.metadata.name === name)
    assert.ok(found !== undefined, `${kind} ${name} is in deploy/kubernetes/`)
    return found
  }
  return { all, named }
}

export const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([key, value]) => labels[key] === value)

/** What a container's process sees: the image's ENV, then envFrom in order, then env, as the kubelet layers them. */
export function kubernetesEnvironment(manifests: ReturnType<typeof loadManifests>, container: Container): Env {
  const values = (ref: { name: string }, kind: 'ConfigMap' | 'Secret'): Env =>
    kind === 'ConfigMap' ? manifests.named('ConfigMap', ref.name).data : manifests.named('Secret', ref.name).stringData
  const env: Env = { ...imageEnv() }
  for (const { configMapRef, secretRef, prefix } of container.envFrom) {
    assert.equal(prefix, undefined, 'envFrom prefixes are not modelled here')
    Object.assign(env, configMapRef ? values(configMapRef, 'ConfigMap') : values(secretRef!, 'Secret'))
  }
  for (const { name, value, valueFrom } of container.env) {
    const fromConfigMap = valueFrom?.configMapKeyRef
    const ref = fromConfigMap ?? valueFrom?.secretKeyRef
    const resolved = ref === undefined ? value : values(ref, fromConfigMap ? 'ConfigMap' : 'Secret')[ref.key]
    assert.ok(resolved !== undefined, `env ${name} has a value`)
    env[name] = resolved
  }
  return env
}

/** How long a preStop hook holds the SIGTERM back: the built-in sleep, or an exec of `sleep N`. */
export function preStopMs(container: Container): number {
  const preStop = container.lifecycle?.preStop
  if (preStop === undefined) return 0
  if (preStop.sleep !== undefined) return preStop.sleep.seconds * 1000
  const [command, seconds] = preStop.exec?.command ?? []
  assert.equal(command, 'sleep', 'a preStop hook other than a sleep is not modelled here')
  return Number(seconds) * 1000
}
