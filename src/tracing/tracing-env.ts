import { z } from 'zod'

// The OTEL_* variables that decide whether the proxy traces and how it exports (docs/configuration.md#tracing),
// part of config.ts's one schema. The SDK reads the others itself (service name, sampler, batching, headers).

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()))

export type TracesExporter = 'otlp' | 'console'

const exportersSchema = optionalText.transform((value, ctx): Array<TracesExporter | 'none'> | undefined => {
  if (value === undefined) return undefined
  const names = value.split(',').map((name) => name.trim())
  const known = names.every((name) => name === 'otlp' || name === 'console' || name === 'none')
  if (!known || (names.includes('none') && names.length > 1)) {
    ctx.addIssue({ code: 'custom', message: 'expected otlp, console, both separated by a comma, or none' })
    return z.NEVER
  }
  return [...new Set(names)] as Array<TracesExporter | 'none'>
})

const endpointSchema = optionalText.refine(
  (value) => value === undefined || (URL.canParse(value) && ['http:', 'https:'].includes(new URL(value).protocol)),
  'expected an http:// or https:// URL such as http://otel-collector:4318 (the value given is not shown)',
)

// The exporter speaks OTLP/HTTP with JSON bodies. Sending that where protobuf or gRPC was asked for would fail
// at the collector, silently: better to refuse at start-up.
const protocolSchema = optionalText.refine(
  (value) => value === undefined || value === 'http/json',
  'the proxy exports OTLP over HTTP as JSON only: set http/json, or leave it unset',
)

export const tracingEnvShape = {
  OTEL_SDK_DISABLED: optionalText,
  OTEL_TRACES_EXPORTER: exportersSchema,
  OTEL_EXPORTER_OTLP_ENDPOINT: endpointSchema,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: endpointSchema,
  OTEL_EXPORTER_OTLP_PROTOCOL: protocolSchema,
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocolSchema,
}

type TracingEnv = { [Key in keyof typeof tracingEnvShape]: z.infer<(typeof tracingEnvShape)[Key]> }

/** Off (empty) unless an OTLP endpoint or OTEL_TRACES_EXPORTER says otherwise; OTEL_SDK_DISABLED=true wins. */
export function chooseTracesExporters(env: TracingEnv): readonly TracesExporter[] {
  if (env.OTEL_SDK_DISABLED?.toLowerCase() === 'true') return []
  if (env.OTEL_TRACES_EXPORTER !== undefined) return env.OTEL_TRACES_EXPORTER.filter((name) => name !== 'none')
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT
  return endpoint === undefined ? [] : ['otlp']
}

/**
 * Where the OTLP exporter sends spans, resolved as the SDK resolves it (the traces endpoint as given, else the
 * general one with `/v1/traces` appended, else the SDK's default), for the logs: without credentials or query.
 */
export function otlpTracesEndpoint(env: TracingEnv): string {
  const general = env.OTEL_EXPORTER_OTLP_ENDPOINT
  const url = new URL(
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
      (general === undefined ? 'http://localhost:4318/v1/traces' : `${general.replace(/\/?$/, '/')}v1/traces`),
  )
  return `${url.origin}${url.pathname}`
}
