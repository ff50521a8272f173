import { createServer } from 'node:http'

// The flood-refusals scenario's floor: a bare node:http server that answers every request at once, as the proxy
// answers a refusal (503, Retry-After, a body of the same shape), after reading its body. Under the same flood, on
// the same machine, it shows what answering 400 requests at once costs before the proxy does anything.

const port = Number(process.argv[2] ?? 0)
const body = JSON.stringify({
  message: "The caller's share of the AiFi quota cannot serve this patch in time, retry later",
  type: 'E_QUOTA_EXHAUSTED',
  errors: [],
  requestId: '00000000-0000-4000-8000-000000000000',
})

const server = createServer((request, response) => {
  request.resume()
  request.once('end', () => {
    const status = request.url === '/healthz' ? 200 : 503
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1', 'content-length': Buffer.byteLength(body) })
    response.end(body)
  })
})
server.keepAliveTimeout = 60_000
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening on http://127.0.0.1:${port}\n`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
