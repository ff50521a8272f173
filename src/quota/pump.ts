/**
 * A loop that calls `step` again each time the wait it returns (in ms) has passed, until it returns undefined or
 * the pump is stopped. One loop runs at a time: `start` while it runs, or once stopped, does nothing. `stop` also
 * cuts a wait short, so a closed quota holds no timer.
 */
export function createPump(step: () => Promise<number | undefined>) {
  let running = false
  let stopped = false
  let wake: (() => void) | undefined

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }

  return {
    async start(): Promise<void> {
      if (running || stopped) return
      running = true
      try {
        for (let waitMs = await step(); waitMs !== undefined && !stopped; waitMs = await step()) await sleep(waitMs)
      } finally {
        running = false
      }
    },
    stop(): void {
      stopped = true
      wake?.()
    },
  }
}
