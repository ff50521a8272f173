import { hash } from 'node:crypto'

/** Every forwarded token AiFi has not accepted yet: made-up tokens share this one flow, so they cannot multiply it. */
export const UNVERIFIED_FLOW = 'forwarded:unverified'
// Forward-mode tokens remembered as accepted; past this, the oldest is forgotten (and shares the unverified flow again).
const MAX_ACCEPTED = 10_000

export type Flows = ReturnType<typeof createFlows>

/**
 * Who a request is for, as the quota shares it out (docs/consistency.md#sharing-the-quota): a caller's key name in
 * service mode; in forward mode a digest of its token once AiFi has accepted that token. No flow holds a secret.
 */
export function createFlows(mode: 'service' | 'forward') {
  const accepted = new Set<string>()
  const digestOf = (authorization: string) => `forwarded:${hash('sha256', authorization, 'base64url').slice(0, 22)}`

  return {
    of(caller: { name: string; authorization: string }): string {
      if (mode === 'service') return caller.name
      const flow = digestOf(caller.authorization)
      return accepted.has(flow) ? flow : UNVERIFIED_FLOW
    },
    /** AiFi answered 2xx to this Authorization: in forward mode, its caller becomes a flow of its own. */
    accepted(authorization: string): void {
      if (mode === 'service') return
      const flow = digestOf(authorization)
      accepted.delete(flow)
      accepted.add(flow)
      if (accepted.size > MAX_ACCEPTED) accepted.delete(accepted.values().next().value!)
    },
    /** The metric label: a configured caller name, or `forwarded`, so its cardinality is the callers plus one. */
    label: (flow: string): string => (mode === 'forward' ? 'forwarded' : flow),
  }
}
