/** RFC 6901 §3: `~` becomes `~0` before `/` becomes `~1`, so an escaped `/` is never escaped twice. */
export function escapePointerToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1')
}

/** RFC 6901 §3: the empty pointer names the whole document; every token adds `/token`. */
export function formatPointer(tokens: readonly string[]): string {
  let pointer = ''
  for (const token of tokens) pointer += `/${escapePointerToken(token)}`
  return pointer
}
