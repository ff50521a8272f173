import type { IncomingMessage, ServerResponse } from 'node:http'

/** One HTTP answer: a JSON value, a raw text, or nothing at all (AiFi's "Empty" responses). */
export interface Answer {
  status: number
  json?: unknown
  text?: string
  headers?: Record<string, string>
}

/** `undefined` when the segment is not valid percent-encoding (a stray `%`, or bytes that are not UTF-8). */
export function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment)
  } catch {
    return undefined
  }
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

export function sendAnswer(res: ServerResponse, answer: Answer): void {
  let payload = ''
  const headers: Record<string, string> = {}
  if (answer.json !== undefined) {
    payload = JSON.stringify(answer.json)
    headers['content-type'] = 'application/json; charset=utf-8'
  } else if (answer.text !== undefined) {
    payload = answer.text
    headers['content-type'] = 'text/plain; charset=utf-8'
  }
  Object.assign(headers, answer.headers)
  headers['content-length'] = String(Buffer.byteLength(payload))
  res.writeHead(answer.status, headers)
  res.end(payload)
}

/** Drops the connection without an answer; a TCP RST where the platform allows, like a crashed upstream. */
export function resetConnection(req: IncomingMessage): void {
  const socket = req.socket
  if (typeof socket.resetAndDestroy === 'function' && !socket.destroyed) socket.resetAndDestroy()
  else socket.destroy()
}
