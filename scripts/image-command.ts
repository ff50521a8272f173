import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

const DOCKERFILE = fileURLToPath(new URL('../Dockerfile', import.meta.url))

/**
 * The runtime stage's CMD as an argv (exec form), so the runtime-image test and the benchmark start the proxy
 * exactly as the image does, node flags included, without a second copy of them.
 */
export async function readImageCommand(): Promise<string[]> {
  const lines = (await readFile(DOCKERFILE, 'utf8')).split('\n')
  const command = lines.findLast((line) => line.startsWith('CMD '))
  if (command === undefined) throw new Error('the Dockerfile has no CMD')
  return JSON.parse(command.slice('CMD '.length)) as string[]
}
