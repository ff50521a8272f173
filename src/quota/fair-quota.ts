import { ProxyError } from '../errors.ts'
import { latestStart as latestStartAt, outrunByTurnsAhead, type FairQuota, type FairQuotaDeps, type QuotaRequest, type QuotaStore, type TurnsAhead } from './quota.ts'

interface Waiter extends QuotaRequest {
  /** Virtual start and finish tags (start-time fair queuing). */
  start: number
  finish: number
  enqueuedAt: number
  timer: NodeJS.Timeout
  resolve(waitedMs: number): void
  reject(error: ProxyError): void
}

/**
 * Weighted fair sharing of AiFi's quota between flows (docs/consistency.md#sharing-the-quota), after Kubernetes'
 * API Priority and Fairness: waiting requests are queued per flow and tagged in virtual time (start-time fair
 * queuing: a flow's next request starts where its last one finished, advanced by tokens / weight), and each slot
 * the store frees goes to the waiting request with the smallest start tag. Slots are booked only when they are
 * granted, one at a time, so nothing is booked for a request that gives up; a flow alone gets the whole rate.
 * A request whose turn cannot come before its deadline is refused at once with 503 E_QUOTA_EXHAUSTED.
 */
export function createFairQuota(store: QuotaStore, deps: FairQuotaDeps): FairQuota {
  const { clock, shareOf, intervalMs } = deps
  const flows = new Map<string, { finish: number; waiting: Waiter[] }>()
  let virtualTime = 0
  let pumping = false
  /** When the calls granted so far have had their slots: the earliest a waiting request's slot can begin. */
  let bookedUntil = 0

  const waiters = () => [...flows.values()].flatMap((flow) => flow.waiting)
  const fairest = (): Waiter | undefined =>
    [...flows.values()].reduce<Waiter | undefined>((best, flow) => {
      const head = flow.waiting[0]
      return head !== undefined && (best === undefined || head.start < best.start) ? head : best
    }, undefined)

  const latestStart = (request: QuotaRequest) => latestStartAt(request, intervalMs)

  /** The flow's backlog spread over its share of the rate: when a new request of it could expect its turn. */
  function retryAfterSeconds(flowName: string): number {
    let backlog = 0
    for (const waiter of flows.get(flowName)?.waiting ?? []) backlog += waiter.tokens
    // The flows with requests waiting share the rate, and this one with them (a loop: it runs for every refusal).
    let totalShare = shareOf(flowName)
    for (const [name, other] of flows) if (name !== flowName && other.waiting.length > 0) totalShare += shareOf(name)
    return Math.max(1, Math.ceil((backlog * intervalMs * totalShare) / shareOf(flowName) / 1000))
  }

  function exhausted(flow: string): ProxyError {
    deps.observe?.refused(flow)
    return new ProxyError('E_QUOTA_EXHAUSTED', { retryAfterSeconds: retryAfterSeconds(flow) })
  }

  /**
   * Takes a waiter out of its flow. One that gives up (`giveBack`) gives its place back: the flow's later requests
   * move up by its cost, as if it had never asked.
   */
  function leave(waiter: Waiter, giveBack: boolean): void {
    const flow = flows.get(waiter.flow)!
    const index = flow.waiting.indexOf(waiter)
    if (index === -1) return
    flow.waiting.splice(index, 1)
    clearTimeout(waiter.timer)
    deps.observe?.waiting(waiter.flow, -1)
    const cost = giveBack ? waiter.finish - waiter.start : 0
    for (const later of flow.waiting.slice(index)) {
      later.start -= cost
      later.finish -= cost
    }
    flow.finish -= cost
    if (flow.waiting.length === 0 && flow.finish <= virtualTime) flows.delete(waiter.flow)
  }

  /** When each waiter can expect its turn, in fair order, at the configured rate after the slots already granted. */
  function refuseHopeless(): void {
    let startsAt = Math.max(clock.now(), bookedUntil)
    for (const waiter of waiters().sort((a, b) => a.start - b.start)) {
      if (startsAt > latestStart(waiter)) {
        leave(waiter, true)
        waiter.reject(exhausted(waiter.flow))
        continue
      }
      startsAt += waiter.tokens * intervalMs
    }
  }

  async function pump(): Promise<void> {
    if (pumping) return
    pumping = true
    try {
      for (let next = fairest(); next !== undefined; next = fairest()) {
        let booking
        try {
          booking = await store.book(next.tokens, Math.max(0, latestStart(next) - clock.now()))
        } catch (error) {
          leave(next, true)
          next.reject(error as ProxyError)
          continue
        }
        if (!booking.granted) {
          leave(next, true)
          next.reject(exhausted(next.flow))
          continue
        }
        bookedUntil = clock.now() + booking.waitMs + next.tokens * intervalMs
        if (booking.waitMs > 0) await clock.delay(booking.waitMs)
        // The slot is decided when it comes due: the fairest request waiting then takes it, which may have arrived
        // while it came (a checkout patch beside a backfill's queue), or stand in for one that gave up.
        const fairestNow = fairest()
        const taker = fairestNow !== undefined && fairestNow.tokens <= next.tokens ? fairestNow : flows.get(next.flow)?.waiting.includes(next) ? next : undefined
        if (taker === undefined) continue
        leave(taker, false)
        virtualTime = Math.max(virtualTime, taker.start)
        const waitedMs = clock.now() - taker.enqueuedAt
        deps.observe?.granted(taker.flow, waitedMs)
        taker.resolve(waitedMs)
        refuseHopeless()
      }
    } finally {
      pumping = false
    }
  }

  /** Where a new request of the flow starts in virtual time: where the flow's last one finished, or now. */
  const startTagOf = (flowName: string) => Math.max(virtualTime, flows.get(flowName)?.finish ?? virtualTime)

  /**
   * The work ahead in fair order, at the configured rate: a turn that comes after the request's latest start is
   * hopeless. Without a queue the store answers at once (a refusal too); with one, the burst is spent and the rate
   * rules.
   */
  function isHopeless(request: QuotaRequest, start: number): boolean {
    // A loop over the queues, not a copy of them: this runs for every patch whose session has nothing waiting.
    let ahead = 0
    let aheadTokens = 0
    for (const flow of flows.values()) {
      for (const waiter of flow.waiting) {
        if (waiter.start > start) continue
        ahead++
        aheadTokens += waiter.tokens
      }
    }
    return ahead > 0 && Math.max(clock.now(), bookedUntil) + aheadTokens * intervalMs > latestStart(request)
  }

  return {
    async refuseAtOnce(request: QuotaRequest, ahead: TurnsAhead): Promise<ProxyError | undefined> {
      const hopeless =
        outrunByTurnsAhead(request, ahead.turnsAhead, { intervalMs, burst: store.burst }, clock.now()) || isHopeless(request, startTagOf(request.flow))
      if (!hopeless || !(await ahead.needsTurnOfItsOwn())) return undefined
      return exhausted(request.flow)
    },
    reserve(request: QuotaRequest): Promise<number> {
      const weight = shareOf(request.flow)
      const start = startTagOf(request.flow)
      if (isHopeless(request, start)) return Promise.reject(exhausted(request.flow))
      let flow = flows.get(request.flow)
      if (flow === undefined) flows.set(request.flow, (flow = { finish: virtualTime, waiting: [] }))
      const finish = start + request.tokens / weight
      return new Promise<number>((resolve, reject) => {
        const waiter: Waiter = { ...request, start, finish, enqueuedAt: clock.now(), resolve, reject, timer: undefined! }
        // A request still waiting when its calls could no longer run in time gives its place back.
        waiter.timer = setTimeout(() => {
          leave(waiter, true)
          reject(exhausted(request.flow))
        }, Math.max(0, latestStart(request) - clock.now()))
        flow.waiting.push(waiter)
        flow.finish = finish
        deps.observe?.waiting(request.flow, 1)
        void pump()
      })
    },
    charge(paidBy: string, tokens: number, patchesByFlow: ReadonlyMap<string, number>): void {
      const total = [...patchesByFlow.values()].reduce((sum, count) => sum + count, 0)
      if (total === 0) return
      for (const [name, count] of patchesByFlow) {
        const share = (tokens * count) / total - (name === paidBy ? tokens : 0)
        const flow = flows.get(name) ?? { finish: virtualTime, waiting: [] }
        flow.finish = Math.max(flow.finish + share / shareOf(name), virtualTime)
        flows.set(name, flow)
      }
      if (!patchesByFlow.has(paidBy)) {
        const flow = flows.get(paidBy)
        if (flow !== undefined) flow.finish = Math.max(flow.finish - tokens / shareOf(paidBy), virtualTime)
      }
    },
    pause: (ms: number) => store.pause(ms).catch(() => {}),
    close: () => waiters().forEach((waiter) => clearTimeout(waiter.timer)),
  }
}
