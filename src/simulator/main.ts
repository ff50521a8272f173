import { parseArgs } from 'node:util'
import { startSimulator } from './simulator.ts'

const USAGE = 'Usage: npm run simulator -- [--port 4010] [--host 127.0.0.1] [--token sim-token] [--rate-limit <rps>]'

function readFlags() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '4010' },
      host: { type: 'string', default: '127.0.0.1' },
      token: { type: 'string', default: 'sim-token' },
      'rate-limit': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  })
  const port = Number(values.port)
  const rateLimitRps = values['rate-limit'] === undefined ? null : Number(values['rate-limit'])
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port must be 0..65535, got ${values.port}`)
  }
  if (rateLimitRps !== null && !(rateLimitRps > 0)) throw new Error('--rate-limit must be a positive number')
  return { help: values.help, port, host: values.host, token: values.token, rateLimitRps }
}

let flags: ReturnType<typeof readFlags>
try {
  flags = readFlags()
} catch (error) {
  console.error(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`)
  process.exit(2)
}
if (flags.help) {
  console.log(USAGE)
  process.exit(0)
}

const simulator = await startSimulator(flags)
console.log(`AiFi simulator listening on ${simulator.url} (token: ${simulator.token})`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void simulator.close().then(() => console.log('AiFi simulator stopped'))
  })
}
