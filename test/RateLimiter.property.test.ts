import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, FastCheck as fc, Fiber, TestClock } from "effect"
import { FixedWindow, type LimiterCore, SlidingWindow, TokenBucket } from "../src/internal/rateLimiterCore.js"
import { PeriodicCycles } from "../src/internal/rateLimiterCycles.js"
import * as RateLimiter from "../src/RateLimiter.js"

/** One request: arrives `gap` ms after the previous, wants `permits`, waits at most `timeout` ms. */
interface Request {
  readonly gap: number
  readonly permits: number
  readonly timeout: number
  /** Interrupted this many ms after arriving (if it waits longer), or never. */
  readonly interruptAfter: number | null
}

const request = (maxPermits: number) =>
  fc.record({
    gap: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 40 })),
    permits: fc.integer({ min: 1, max: maxPermits }),
    timeout: fc.integer({ min: 0, max: 200 }),
    interruptAfter: fc.option(fc.integer({ min: 0, max: 100 }))
  })

interface Grant {
  readonly arrival: number
  readonly at: number
  readonly permits: number
}

/**
 * Drives a core the way the shell does (earliest, then reserve if the wait fits), releasing the
 * reservations of requests interrupted before their time. Returns the grants that were used.
 */
const drive = (core: LimiterCore, requests: ReadonlyArray<Request>): Array<Grant> => {
  let pending: Array<{ grant: Grant; ticket: number; interruptAt: number }> = []
  const used: Array<Grant> = []
  let now = 0
  /** Interruptions due by `until` happen in time order, each before its holder's time. */
  const settle = (until: number) => {
    pending.sort((a, b) => a.interruptAt - b.interruptAt)
    const keep: typeof pending = []
    for (const p of pending) {
      if (p.interruptAt >= p.grant.at) used.push(p.grant) // it proceeds at its reserved time
      else if (p.interruptAt <= until) core.release(p.ticket, p.grant.permits, Math.max(p.interruptAt, now))
      else keep.push(p)
    }
    pending = keep
  }
  for (const r of requests) {
    settle(now + r.gap)
    now += r.gap
    const at = core.earliest(r.permits, now, now)
    if (!(at - now <= r.timeout)) continue
    const ticket = core.reserveAt(r.permits, now, at)
    const grant = { arrival: now, at, permits: r.permits }
    if (at <= now) used.push(grant)
    else pending.push({ grant, ticket, interruptAt: r.interruptAfter === null ? Infinity : now + r.interruptAfter })
  }
  settle(Infinity)
  return used
}

const inOrder = (grants: ReadonlyArray<Grant>) => {
  const sorted = [...grants].sort((a, b) => a.arrival - b.arrival)
  let latest = -Infinity
  let latestArrival = -Infinity
  let groupMax = -Infinity
  for (const g of sorted) {
    if (g.arrival !== latestArrival) {
      latest = Math.max(latest, groupMax)
      latestArrival = g.arrival
    }
    // Nobody who arrived strictly later runs before someone who arrived earlier.
    if (g.at < latest) return false
    groupMax = Math.max(groupMax, g.at)
  }
  return true
}

describe("rate limiter cores (pure)", () => {
  it("fixed window: never more than the limit per cycle, in order, interruptions included", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(request(12), { maxLength: 300 }),
        (limit, period, requests) => {
          const grants = drive(new FixedWindow(new PeriodicCycles(0, period), limit, 0), requests)
          const perCycle = new Map<number, number>()
          for (const g of grants) {
            const cycle = Math.floor(g.at / period)
            perCycle.set(cycle, (perCycle.get(cycle) ?? 0) + g.permits)
          }
          for (const used of perCycle.values()) expect(used).toBeLessThanOrEqual(limit)
          expect(inOrder(grants)).toBe(true)
        }
      ),
      { numRuns: 500 }
    )
  })

  it("token bucket: never more than capacity + elapsed x rate, in order", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(request(12), { maxLength: 300 }),
        (limit, period, capacity, requests) => {
          const rate = limit / period
          const grants = drive(new TokenBucket(rate, capacity, 0), requests).sort((a, b) => a.at - b.at)
          let total = 0
          for (const g of grants) {
            total += g.permits
            expect(total).toBeLessThanOrEqual(capacity + g.at * rate + 1e-6)
          }
          expect(inOrder(grants)).toBe(true)
        }
      ),
      { numRuns: 500 }
    )
  })

  it("sliding window: never more than the limit in any window, in order", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(request(12), { maxLength: 300 }),
        (limit, window, requests) => {
          const grants = drive(new SlidingWindow(window, limit), requests).sort((a, b) => a.at - b.at)
          for (const g of grants) {
            let inWindow = 0
            for (const h of grants) if (h.at > g.at - window && h.at <= g.at) inWindow += h.permits
            expect(inWindow).toBeLessThanOrEqual(limit)
          }
          expect(inOrder(grants)).toBe(true)
        }
      ),
      { numRuns: 300 }
    )
  })
})

// ---- the Effect shell under load ------------------------------------------------------------------

const FIBERS = 10_000

const arrivals = fc.array(
  fc.record({ tick: fc.integer({ min: 0, max: 60 }), permits: fc.integer({ min: 1, max: 3 }) }),
  { minLength: FIBERS, maxLength: FIBERS }
)

/** Runs FIBERS fibers arriving at random 1 ms ticks; returns when each proceeded and with how much. */
const flood = (
  limiter: RateLimiter.RateLimiter,
  requests: ReadonlyArray<{ readonly tick: number; readonly permits: number }>
) =>
  Effect.gen(function*() {
    const grants: Array<Grant> = []
    const byTick = new Map<number, Array<number>>()
    for (const r of requests) byTick.set(r.tick, [...(byTick.get(r.tick) ?? []), r.permits])
    const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
    for (let tick = 0; tick <= 60; tick++) {
      for (const permits of byTick.get(tick) ?? []) {
        const arrival = tick
        const proceed = Effect.clockWith((clock) => clock.currentTimeMillis).pipe(
          Effect.map((at) => grants.push({ arrival, at, permits }))
        )
        fibers.push(yield* Effect.fork(Effect.exit(RateLimiter.withRateLimiter(proceed, limiter, { permits }))))
      }
      yield* TestClock.adjust("1 millis")
    }
    yield* TestClock.adjust("1 second")
    yield* Fiber.joinAll(fibers)
    return grants
  })

describe("RateLimiter under 10,000 concurrent fibers", () => {
  it.scoped(
    "fixed window: never more than limitForPeriod per cycle; waiters served in order",
    () =>
      Effect.gen(function*() {
        const samples = fc.sample(arrivals, { numRuns: 2, seed: 42 })
        for (const requests of samples) {
          const limiter = yield* RateLimiter.make({
            name: "flood",
            limitForPeriod: 20,
            limitRefreshPeriod: "10 millis",
            timeoutDuration: "30 millis"
          })
          const grants = yield* flood(limiter, requests)
          const perCycle = new Map<number, number>()
          for (const g of grants) {
            perCycle.set(Math.floor(g.at / 10), (perCycle.get(Math.floor(g.at / 10)) ?? 0) + g.permits)
          }
          expect(Math.max(...perCycle.values())).toBeLessThanOrEqual(20)
          expect(grants.some((g) => g.at > g.arrival)).toBe(true) // some did wait
          expect(inOrder(grants)).toBe(true)
          expect(yield* limiter.metrics).toMatchObject({ numberOfWaitingFibers: 0 })
        }
      }),
    120_000
  )

  it.scoped("token bucket: never more than capacity + elapsed x rate", () =>
    Effect.gen(function*() {
      const samples = fc.sample(arrivals, { numRuns: 2, seed: 7 })
      for (const requests of samples) {
        const start = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        const limiter = yield* RateLimiter.make({
          name: "flood",
          algorithm: "token-bucket",
          limitForPeriod: 3,
          limitRefreshPeriod: Duration.millis(2),
          capacity: 25,
          timeoutDuration: "20 millis"
        })
        const grants = (yield* flood(limiter, requests)).sort((a, b) => a.at - b.at)
        let total = 0
        for (const g of grants) {
          total += g.permits
          expect(total).toBeLessThanOrEqual(25 + (g.at - start) * 1.5 + 1e-6)
        }
        expect(inOrder(grants)).toBe(true)
      }
    }), 120_000)
})
