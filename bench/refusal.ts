/** How a load process names an answer that is not a 2xx: its status and the proxy's error type, when it has one. */
export function describeRefusal(status: number, text: string): string {
  try {
    const type = (JSON.parse(text) as { type?: unknown }).type
    return typeof type === 'string' ? `${status} ${type}` : String(status)
  } catch {
    return String(status)
  }
}
