// Fixed ids so a printed curl example and a benchmark can name a session before asking for one.
// The first is the UUID of AiFi's own documentation examples.
export const DEMO_SESSION_ID = 'd3a00526-1864-4f6e-bb2d-46e3ab7fa780'

/** Seeded sessions whose metadata already holds AiFi-written `events` next to ordinary keys. */
export const seedSessionFields: ReadonlyArray<Record<string, unknown>> = [
  {
    sessionId: DEMO_SESSION_ID,
    metadata: {
      events: [{ eventId: '6bdbfb2d-5d3e-4a0f-9a4e-0c7f3e1b2a11', metadata: { key: 'value' } }],
      exampleKey: 'exampleValue',
      loyalty: { tier: 'gold', points: 120 },
    },
  },
  {
    sessionId: '5f0c2a8e-7b1d-4c6a-8e3f-2d9b4a7c1e55',
    storeId: 2,
    metadata: {
      events: [
        { eventId: '0a7e4b2c-91d3-4f58-b6a2-3c8d5e7f9a01', metadata: { source: 'thirdPartyDevice', products: 2 } },
        { eventId: 'c4e1f7a9-2b6d-4e83-9f05-7a1b3c5d8e22', metadata: { source: 'handoff', shopperId: 'shopper-42' } },
      ],
      basketId: 'basket-7781',
      channel: 'app',
    },
  },
  {
    sessionId: '9b3d7e15-4a2c-4f86-a1e9-6c8f0b2d4a77',
    groupSize: 2,
    visitors: 2,
    metadata: {
      events: [{ eventId: 'e8f2a6c3-5d19-4b7e-8a4f-1c3e5a7b9d33', metadata: { source: 'thirdPartyDevice' } }],
      note: 'family visit',
      receipt: { email: false },
    },
  },
]
