import { randomBytes } from 'node:crypto'
import type { Config } from './config.ts'
import type { AuthSettings } from './http/auth.ts'
import { DEMO_SESSION_ID, startSimulator } from './simulator/simulator.ts'

export interface UpstreamTarget {
  baseUrl: string
  auth: AuthSettings
  /** Set when AiFi is the embedded simulator: what the start-up banner needs. */
  demo?: { callerKey: string; sessionId: string }
  close(): Promise<void>
}

/**
 * Decides what the proxy talks to and how it authenticates (docs/configuration.md#embedded-simulator). Without AIFI_BASE_URL it starts the
 * in-memory simulator in-process and runs in service mode with the simulator's token and a caller key.
 */
export async function resolveUpstreamTarget(config: Config): Promise<UpstreamTarget> {
  if (config.aifiBaseUrl !== undefined) {
    const auth: AuthSettings =
      config.callerKeys === undefined
        ? { mode: 'forward' }
        : { mode: 'service', callerKeys: config.callerKeys, upstreamToken: config.aifiApiToken! }
    return { baseUrl: config.aifiBaseUrl, auth, close: async () => {} }
  }

  // Its token is AIFI_API_TOKEN when one is set, so the proxy's own token is the one the simulator accepts.
  const simulator = await startSimulator({ port: 0, host: '127.0.0.1', ...(config.aifiApiToken ? { token: config.aifiApiToken } : {}) })
  const callerKeys = config.callerKeys ?? [{ name: 'demo', secret: randomBytes(18).toString('base64url') }]
  return {
    baseUrl: simulator.url,
    auth: { mode: 'service', callerKeys, upstreamToken: simulator.token },
    demo: { callerKey: callerKeys[0]!.secret, sessionId: DEMO_SESSION_ID },
    close: () => simulator.close(),
  }
}

/**
 * Two curls that work as pasted, a merge that keeps `events` and a read, then the variables the README's examples
 * use. Printed, never logged: it holds a key.
 */
export function demoBanner(port: number, demo: { callerKey: string; sessionId: string }): string {
  const base = `http://127.0.0.1:${port}/api/admin/v2/sessions`
  const session = `${base}/${demo.sessionId}`
  const authorization = shellQuote(`Authorization: Bearer ${demo.callerKey}`)
  return [
    '',
    'AiFi is SIMULATED in-process (AIFI_BASE_URL is unset). Two commands to try, each works as pasted:',
    "a merge that keeps the session's events, then a read of the session.",
    '',
    `  curl -sS -X PATCH ${shellQuote(session)} \\`,
    `    -H ${authorization} \\`,
    "    -H 'Content-Type: application/merge-patch+json' \\",
    `    -d '{"metadata":{"loyalty":{"tier":"platinum"},"promo":"WELCOME10"}}'`,
    '',
    `  curl -sS ${shellQuote(session)} -H ${authorization}`,
    '',
    "The README's examples use these variables: paste them first.",
    '',
    `  KEY=${shellQuote(demo.callerKey)}`,
    `  SESSION=${shellQuote(demo.sessionId)}`,
    `  BASE=${shellQuote(base)}`,
    '',
  ].join('\n')
}

/** One POSIX shell word, whatever the text holds (a configured key may contain quotes or `$`). */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`
}
