import { forkChild, type RunningFiber } from "#port"
import { FastCheck as fc, itScoped, TestClock } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import { FixedWindow, type LimiterCore, SlidingWindow, TokenBucket } from "../src/core/rateLimiterCore.js"
import { PeriodicCycles } from "../src/core/rateLimiterCycles.js"
import * as RateLimiter from "../src/guards/RateLimiter.js"

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
  /** Order of arrival (requests and limit changes share the sequence). */
  readonly seq?: number
  /** Some reservation was given back before this request arrived. */
  readonly afterRelease?: boolean
}

/** A reservation given back: when, by whom, and the latest time a reservation still held waits for. */
interface Release {
  readonly time: number
  readonly grant: Grant
  readonly latestHeld: number
  /** The limit was changed between the reservation and its release. */
  readonly changed: boolean
}

interface Drive {
  /** A limit change before request `i` (or none). */
  readonly change?: (i: number) => number | null
  readonly onChange?: (limit: number, now: number, seq: number) => void
  /** Called right after each release, with the core as the release left it. */
  readonly onRelease?: (release: Release) => void
}

/**
 * Drives a core the way the shell does (earliest, then reserve if the wait fits), releasing the
 * reservations of requests interrupted before their time. Returns the grants that were used.
 */
const drive = (core: LimiterCore, requests: ReadonlyArray<Request>, options: Drive = {}): Array<Grant> => {
  interface Held {
    readonly grant: Grant
    readonly ticket: number
    readonly interruptAt: number
    readonly changes: number
    released: boolean
  }
  let pending: Array<Held> = []
  const all: Array<Held> = []
  const used: Array<Grant> = []
  let now = 0
  let seq = 0
  let changes = 0
  let released = false
  /** Interruptions due by `until` happen in time order, each before its holder's time. */
  const settle = (until: number) => {
    pending.sort((a, b) => a.interruptAt - b.interruptAt)
    const keep: typeof pending = []
    for (const p of pending) {
      if (p.interruptAt >= p.grant.at) used.push(p.grant) // it proceeds at its reserved time
      else if (p.interruptAt <= until) {
        const time = Math.max(p.interruptAt, now)
        core.release(p.ticket, p.grant.permits, time)
        p.released = true
        released = true
        let latestHeld = Number.NEGATIVE_INFINITY
        for (const h of all) if (!h.released && h.grant.at > time) latestHeld = Math.max(latestHeld, h.grant.at)
        options.onRelease?.({ time, grant: p.grant, latestHeld, changed: changes !== p.changes })
      } else keep.push(p)
    }
    pending = keep
  }
  for (let i = 0; i < requests.length; i++) {
    const r = requests[i]!
    settle(now + r.gap)
    now += r.gap
    const limit = options.change?.(i) ?? null
    if (limit !== null) {
      options.onChange?.(limit, now, seq++)
      changes++
    }
    const at = core.earliest(r.permits, now, now)
    if (!(at - now <= r.timeout)) continue
    const ticket = core.reserveAt(r.permits, now, at)
    const grant = { arrival: now, at, permits: r.permits, seq: seq++, afterRelease: released }
    const held = { grant, ticket, interruptAt: r.interruptAfter === null ? Infinity : now + r.interruptAfter, changes }
    all.push({ ...held, released: false })
    if (at <= now) used.push(grant)
    else pending.push(all[all.length - 1]!)
  }
  settle(Infinity)
  return used
}

/** Nobody who arrived strictly later runs before someone who arrived earlier (`exempt` may). */
const inOrder = (grants: ReadonlyArray<Grant>, exempt: (g: Grant) => boolean = () => false) => {
  const sorted = [...grants].sort((a, b) => a.arrival - b.arrival)
  let latest = -Infinity
  let latestArrival = -Infinity
  let groupMax = -Infinity
  for (const g of sorted) {
    if (g.arrival !== latestArrival) {
      latest = Math.max(latest, groupMax)
      latestArrival = g.arrival
    }
    if (g.at < latest && !exempt(g)) return false
    groupMax = Math.max(groupMax, g.at)
  }
  return true
}

/** Now and then, a new limit before a request. */
const limitChanges = (max: number) => fc.array(fc.option(fc.integer({ min: 1, max }), { freq: 12 }), { maxLength: 300 })

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
          // Only a permit given back lets a newcomer run before an earlier arrival (delaying nobody).
          expect(inOrder(grants, (g) => g.afterRelease === true)).toBe(true)
        }
      ),
      { numRuns: 500 }
    )
  })

  it("fixed window with limit changes: no cycle gets more than its limit; given-back permits are usable", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(request(12), { maxLength: 300 }),
        limitChanges(12),
        (initial, period, requests, newLimits) => {
          const core = new FixedWindow(new PeriodicCycles(0, period), initial, 0)
          const cycleOf = (t: number) => Math.floor(t / period)
          const changes: Array<{ cycle: number; seq: number; limit: number }> = []
          const grants = drive(core, requests, {
            change: (i) => newLimits[i] ?? null,
            onChange: (limit, now, seq) => {
              core.setLimit(limit, now)
              changes.push({ cycle: cycleOf(now), seq, limit })
            },
            onRelease: ({ changed, grant, time }) => {
              // Whoever asks for the same permits right away can have them no later than their holder.
              if (!changed) expect(core.earliest(grant.permits, time, time)).toBeLessThanOrEqual(grant.at)
            }
          })
          const perCycle = new Map<number, Array<Grant>>()
          for (const g of grants) perCycle.set(cycleOf(g.at), [...(perCycle.get(cycleOf(g.at)) ?? []), g])
          for (const [cycle, inCycle] of perCycle) {
            // The limit of a cycle: set by the last change made before it began.
            let applicable = initial
            let since = -1
            for (const c of changes) {
              if (c.cycle < cycle) {
                applicable = c.limit
                since = c.seq
              }
            }
            const total = inCycle.reduce((n, g) => n + g.permits, 0)
            const before = inCycle.filter((g) => g.seq! < since).reduce((n, g) => n + g.permits, 0)
            expect(total).toBeLessThanOrEqual(Math.max(applicable, before))
          }
          expect(inOrder(grants, (g) => g.afterRelease === true)).toBe(true)
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

  it("token bucket with rate changes: never more than capacity + tokens refilled; given-back tokens usable", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(request(12), { maxLength: 300 }),
        limitChanges(10),
        (limit, period, capacity, requests, newLimits) => {
          const core = new TokenBucket(limit / period, capacity, 0)
          /** Rate changes as (from, rate, seq), the first from 0. */
          const rates = [{ from: 0, rate: limit / period, seq: -1 }]
          const refilled = (t: number) => {
            let total = 0
            for (let i = 0; i < rates.length; i++) {
              const end = Math.min(t, rates[i + 1]?.from ?? Infinity)
              if (end > rates[i]!.from) total += (end - rates[i]!.from) * rates[i]!.rate
            }
            return total
          }
          const grants = drive(core, requests, {
            change: (i) => newLimits[i] ?? null,
            onChange: (newLimit, now, seq) => {
              core.configure(newLimit / period, capacity, now)
              rates.push({ from: now, rate: newLimit / period, seq })
            },
            onRelease: ({ changed, grant, latestHeld, time }) => {
              if (!changed) {
                expect(core.earliest(grant.permits, time, time)).toBeLessThanOrEqual(
                  Math.max(grant.at, latestHeld) + 1e-6
                )
              }
            }
          }).sort((a, b) => a.seq! - b.seq!)
          // Each grant was decided on the tokens refilled by its arrival plus those the rate then in force
          // promised until its time: the grants that arrived up to it never exceed that.
          let total = 0
          for (const g of grants) {
            total += g.permits
            const rate = rates.filter((r) => r.seq < g.seq!).at(-1)!.rate
            expect(total).toBeLessThanOrEqual(capacity + refilled(g.arrival) + (g.at - g.arrival) * rate + 1e-6)
          }
          expect(inOrder(grants)).toBe(true)
        }
      ),
      { numRuns: 500 }
    )
  })

  it("sliding window with limit changes: within the limit in force; given-back permits usable", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(request(12), { maxLength: 300 }),
        limitChanges(12),
        (initial, window, requests, newLimits) => {
          const core = new SlidingWindow(window, initial)
          const limits = [{ seq: -1, limit: initial }]
          const grants = drive(core, requests, {
            change: (i) => newLimits[i] ?? null,
            onChange: (limit, _now, seq) => {
              core.limit = limit
              limits.push({ seq, limit })
            },
            onRelease: ({ changed, grant, latestHeld, time }) => {
              // Given back by the newest reservation held: its place is free for the same request.
              if (!changed && latestHeld <= grant.at) {
                expect(core.earliest(grant.permits, time, time)).toBeLessThanOrEqual(grant.at)
              }
            }
          })
          for (const g of grants) {
            // What had arrived by g's decision and runs within g's window stays within the limit then.
            const limit = limits.filter((l) => l.seq < g.seq!).at(-1)!.limit
            let inWindow = 0
            for (const h of grants) if (h.seq! <= g.seq! && h.at > g.at - window && h.at <= g.at) inWindow += h.permits
            expect(inWindow).toBeLessThanOrEqual(limit)
          }
          expect(inOrder(grants)).toBe(true)
        }
      ),
      { numRuns: 300 }
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
    const fibers: Array<RunningFiber<unknown, unknown>> = []
    for (let tick = 0; tick <= 60; tick++) {
      for (const permits of byTick.get(tick) ?? []) {
        const arrival = tick
        const proceed = Effect.clockWith((clock) => clock.currentTimeMillis).pipe(
          Effect.map((at) => grants.push({ arrival, at, permits }))
        )
        fibers.push(yield* forkChild(Effect.exit(RateLimiter.withRateLimiter(proceed, limiter, { permits }))))
      }
      yield* TestClock.adjust("1 millis")
    }
    yield* TestClock.adjust("1 second")
    yield* Fiber.joinAll(fibers)
    return grants
  })

describe("RateLimiter under 10,000 concurrent fibers", () => {
  itScoped(
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

  itScoped("token bucket: never more than capacity + elapsed x rate", () =>
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
