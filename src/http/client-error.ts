import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { ConnectionError } from 'fastify'
import { ProxyError } from '../errors.ts'
import type { ProxyErrorBody } from '../schemas.ts'

/**
 * fastify's `clientErrorHandler`: the connection failed before fastify had a request to answer (headers or body
 * too slow, headers too large, malformed HTTP). Node then expects a raw answer on the socket and its closing.
 * The answer still has AiFi's error shape (docs/http-api.md#slow-and-malformed-clients), with a request id of its own, as there is no request.
 */
export function handleClientError(error: ConnectionError, socket: Socket): void {
  // A reset peer is gone: nothing to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const [status, refusal] = describeClientError(error)
  if (socket.writable) {
    const requestId = randomUUID()
    const body: ProxyErrorBody = { message: refusal.message, type: refusal.type, errors: [], requestId }
    const text = JSON.stringify(body)
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(text)}\r\n` +
        `X-Request-Id: ${requestId}\r\n` +
        `Connection: close\r\n\r\n${text}`,
    )
  }
  // As Node's own handler does: the parser's state is unknown after an error, so the connection cannot be reused.
  socket.destroy()
}

function describeClientError(error: ConnectionError): [number, ProxyError] {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, new ProxyError('E_REQUEST_TIMEOUT')]
    // The catalogue has no header-size type; the status says which part was too large.
    case 'HPE_HEADER_OVERFLOW':
      return [431, new ProxyError('E_PAYLOAD_TOO_LARGE', { message: 'Request headers are too large' })]
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [413, new ProxyError('E_PAYLOAD_TOO_LARGE', { message: 'Chunk extensions are too large' })]
    default:
      return [400, new ProxyError('E_INVALID_BODY', { message: 'Malformed HTTP request' })]
  }
}
