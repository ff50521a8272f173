import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

// A collector stand-in for scenario 7: OTLP over HTTP with JSON bodies, the one encoding the proxy exports. It
// answers 200 `{}` to POST /v1/traces and only counts the spans (test/tracing-otlp.test.ts has one that keeps them).

interface OtlpPayload {
  resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: unknown[] }> }>
}

export type OtlpReceiver = Awaited<ReturnType<typeof startOtlpReceiver>>

export async function startOtlpReceiver() {
  let spans = 0
  let exports = 0
  const server = createServer((request, response) => {
    let body = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => (body += chunk))
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/v1/traces') return response.writeHead(404).end()
      let payload: OtlpPayload
      try {
        payload = JSON.parse(body) as OtlpPayload
      } catch {
        return response.writeHead(400).end()
      }
      for (const resource of payload.resourceSpans ?? []) for (const scope of resource.scopeSpans ?? []) spans += scope.spans?.length ?? 0
      exports += 1
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spansReceived: () => spans,
    exportRequests: () => exports,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
