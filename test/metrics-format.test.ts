import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { patchSession, startTestApp } from './helper.ts'

// What a strict OpenMetrics-style parser or a dashboard accepts, not just what Prometheus tolerates.

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)*)\})? (\S+)$/
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

interface Family {
  type: string
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>
}

/** Parses Prometheus text strictly: every sample is under its family's TYPE, with a finite value (±Inf only where a gauge may hold it). */
function parseStrictly(text: string): Map<string, Family> {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline')
  const families = new Map<string, Family>()
  let current: { name: string; family: Family } | undefined
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue
    const comment = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line)
    if (comment) {
      const [, kind, name, rest] = comment
      assert.match(name!, NAME, line)
      if (kind === 'TYPE') {
        assert.ok(TYPES.has(rest!), line)
        assert.ok(!families.has(name!), `${name} is declared twice`)
        current = { name: name!, family: { type: rest!, samples: [] } }
        families.set(name!, current.family)
      }
      continue
    }
    const match = SAMPLE.exec(line)
    assert.ok(match, `not a sample line: ${line}`)
    const [, name, labelText, valueText] = match
    assert.ok(current, `a sample before any TYPE: ${line}`)
    const suffixes = current.family.type === 'histogram' ? ['_bucket', '_sum', '_count'] : ['']
    assert.ok(suffixes.some((suffix) => name === current!.name + suffix), `${name} is not in family ${current.name}`)
    const labels = Object.fromEntries([...(labelText ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]))
    const infinite = valueText === '+Inf' || valueText === '-Inf'
    assert.ok(FLOAT.test(valueText!) || (infinite && current.family.type === 'gauge'), `${line}: not a finite number`)
    const value = Number(valueText)
    if (current.family.type === 'counter' || name!.endsWith('_bucket') || name!.endsWith('_count')) assert.ok(value >= 0, line)
    if (name!.endsWith('_bucket')) assert.ok(labels.le === '+Inf' || FLOAT.test(labels.le ?? ''), `${line}: bad le`)
    current.family.samples.push({ name: name!, labels, value })
  }
  for (const [name, family] of families) if (family.type === 'histogram') checkHistogram(name, family)
  return families
}

/** Buckets are cumulative and end at +Inf with the count. */
function checkHistogram(name: string, family: Family): void {
  const series = new Map<string, Array<{ le: string; value: number }>>()
  for (const sample of family.samples.filter((s) => s.name === `${name}_bucket`)) {
    const { le, ...rest } = sample.labels
    const key = JSON.stringify(rest)
    series.set(key, [...(series.get(key) ?? []), { le: le!, value: sample.value }])
  }
  for (const [key, buckets] of series) {
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, `${name}${key} buckets decrease`)
    assert.equal(buckets.at(-1)!.le, '+Inf', `${name}${key} has no +Inf bucket`)
    const count = family.samples.find((s) => s.name === `${name}_count` && JSON.stringify(s.labels) === key)
    assert.equal(count?.value, buckets.at(-1)!.value, `${name}${key}: +Inf bucket and count differ`)
  }
}

async function scrape(app: FastifyInstance): Promise<string> {
  const response = await app.inject('/metrics')
  assert.equal(response.statusCode, 200)
  return response.body
}

test('two scrapes within a millisecond both parse strictly: no Nan, no sentinel minimum, only finite values', async (t) => {
  const { app, simulator } = await startTestApp(t)
  assert.equal((await patchSession(app, simulator.seededSessionIds[0]!, { metadata: { a: 1 } })).statusCode, 200)
  // Started together, the second collect runs microseconds after the first: no event-loop sample in between.
  const texts = await Promise.all([scrape(app), scrape(app)])
  for (const families of [...texts, await scrape(app)].map(parseStrictly)) {
    const minimum = families.get('nodejs_eventloop_lag_min_seconds')!.samples[0]!.value
    assert.ok(minimum < 60, `a minimum event-loop delay of ${minimum} s`)
    for (const name of ['aifi_proxy_requests_total', 'aifi_proxy_upstream_duration_seconds', 'process_cpu_user_seconds_total']) {
      assert.ok(families.has(name), name)
    }
    // Gauges named like counters read as counters to promtool and OpenMetrics; their per-type siblings stay.
    assert.ok(!families.has('nodejs_active_handles_total'), 'nodejs_active_handles_total is a gauge')
    assert.ok(families.has('nodejs_active_handles'), 'nodejs_active_handles is gone')
  }
})

const promtool = spawnSync('promtool', ['--version']).error === undefined

test('promtool check metrics has nothing to report', { skip: promtool ? false : 'promtool is not installed (Debian: apt-get install prometheus)' }, async (t) => {
  const { app, simulator } = await startTestApp(t)
  simulator.injectFault({ op: 'read', kind: 'status', status: 503, count: 1 })
  assert.equal((await patchSession(app, simulator.seededSessionIds[0]!, { metadata: { a: 1 } })).statusCode, 200)
  const [text] = await Promise.all([scrape(app), scrape(app)])
  const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
  child.stdin.end(text)
  assert.equal(await exited, 0, output)
  assert.equal(output, '')
})
