import { failureOf, forkChild, Service } from "#port"
import { configFromJson, itScoped, TestClock, withConfig, withSeed, yieldNow } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Data, Duration, Effect, Exit, Fiber, Stream } from "effect"
import { BUCKETS, rejectionProbability, ThrottlerCore } from "../src/core/throttlerCore.js"
import { InvalidConfigError } from "../src/errors/InvalidConfigError.js"
import * as AdaptiveLimiter from "../src/guards/AdaptiveLimiter.js"
import * as AdaptiveThrottler from "../src/guards/AdaptiveThrottler.js"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as Hedge from "../src/guards/Hedge.js"
import * as Policy from "../src/shared/Policy.js"

const settle = Effect.gen(function*() {
  for (let i = 0; i <= 9; i++) yield* yieldNow
})

class Overloaded extends Data.TaggedError("Overloaded") {}
class NotFound extends Data.TaggedError("NotFound") {}

/**
 * A dependency that accepts at most `capacity` calls per second of `Clock` time and rejects the rest
 * with `Overloaded`; it counts what reaches it.
 */
const dependency = (capacity: number) => {
  const counts = { delivered: 0, accepted: 0, second: -1, acceptedThisSecond: 0 }
  const call = Effect.flatMap(Effect.clockWith((clock) => clock.currentTimeMillis), (now) => {
    counts.delivered++
    const second = Math.floor(Number(now) / 1000)
    if (second !== counts.second) {
      counts.second = second
      counts.acceptedThisSecond = 0
    }
    if (counts.acceptedThisSecond >= capacity) return Effect.fail(new Overloaded())
    counts.acceptedThisSecond++
    counts.accepted++
    return Effect.succeed("ok")
  })
  return { counts, call }
}

/**
 * Offers 100 calls per second (25 every 250 ms) for `seconds` to a dependency with a capacity of 10
 * per second, i.e. one that rejects 90% of the offered load; returns what reached it in the last 30 s.
 */
const offer = (k: number | undefined, seconds: number) =>
  Effect.gen(function*() {
    const throttler = yield* AdaptiveThrottler.make({
      name: "quotes",
      window: "10 seconds",
      ...(k === undefined ? {} : { k })
    })
    const { call, counts } = dependency(10)
    const guarded = AdaptiveThrottler.withAdaptiveThrottler(call, throttler)
    let deliveredBefore = 0
    let acceptedBefore = 0
    for (let tick = 0; tick < seconds * 4; tick++) {
      if (tick === (seconds - 30) * 4) {
        deliveredBefore = counts.delivered
        acceptedBefore = counts.accepted
      }
      for (let i = 0; i < 25; i++) yield* Effect.exit(guarded)
      yield* TestClock.adjust("250 millis")
    }
    return {
      deliveredPerSecond: (counts.delivered - deliveredBefore) / 30,
      acceptedPerSecond: (counts.accepted - acceptedBefore) / 30,
      metrics: yield* throttler.metrics
    }
  }).pipe(withSeed(7))

describe("AdaptiveThrottler", () => {
  itScoped(
    "under a dependency that rejects 90% of calls, the load reaching it falls to about k × its capacity",
    () =>
      Effect.gen(function*() {
        // Without throttling, all 100 calls per second would reach it.
        const k2 = yield* offer(undefined, 60)
        expect(k2.acceptedPerSecond).toBeGreaterThan(9)
        expect(k2.deliveredPerSecond).toBeGreaterThan(15)
        expect(k2.deliveredPerSecond).toBeLessThan(25) // ≈ 2 × 10, from 100
        expect(k2.metrics.rejectionProbability).toBeGreaterThan(0.7)
        expect(k2.metrics.throttledCalls).toBeGreaterThan(0)

        // k = 1.1 lets through about its capacity. Which calls it lets through depends on the seeded
        // draws, and Effect 3 and 4 draw different sequences from one seed: over seeds 1–10 on each,
        // 6.9–11.9 calls per second reached it and 6.5–9.6 were accepted (seed 7 on Effect 3: 11.9 and
        // 9.6), so the bounds hold for any seed rather than for one sequence.
        const k11 = yield* offer(1.1, 60)
        expect(k11.acceptedPerSecond).toBeGreaterThan(6)
        expect(k11.deliveredPerSecond).toBeGreaterThan(6)
        expect(k11.deliveredPerSecond).toBeLessThan(14) // ≈ 1.1 × 10
        expect(k11.deliveredPerSecond).toBeLessThan(k2.deliveredPerSecond * 0.7)
      })
  )

  itScoped(
    "never throttles while the dependency accepts everything, and lets load back when it recovers",
    () =>
      Effect.gen(function*() {
        const throttler = yield* AdaptiveThrottler.make({ name: "quotes", window: "10 seconds" })
        let failing = true
        const call = Effect.suspend(() => failing ? Effect.fail(new Overloaded()) : Effect.succeed(1))
        for (let i = 0; i < 200; i++) yield* Effect.exit(AdaptiveThrottler.withAdaptiveThrottler(call, throttler))
        expect((yield* throttler.metrics).rejectionProbability).toBeGreaterThan(0.9)
        failing = false
        yield* TestClock.adjust("11 seconds") // the window forgets
        expect((yield* throttler.metrics).rejectionProbability).toBe(0)
        for (let i = 0; i < 100; i++) yield* AdaptiveThrottler.withAdaptiveThrottler(call, throttler)
        const metrics = yield* throttler.metrics
        expect(metrics).toMatchObject({ requests: 100, accepts: 100, rejectionProbability: 0 })
      }).pipe(withSeed(1))
  )

  itScoped(
    "refuses with ThrottledError, publishes CallThrottled, and counts only what isRejection calls rejections",
    () =>
      Effect.gen(function*() {
        const throttler = yield* AdaptiveThrottler.make({
          name: "quotes",
          window: "10 seconds",
          isRejection: (e) => e instanceof Overloaded
        })
        const seen: Array<AdaptiveThrottler.Event> = []
        yield* Effect.forkScoped(Stream.runForEach(throttler.events, (e) => Effect.sync(() => seen.push(e))))
        yield* settle
        for (let i = 0; i < 50; i++) {
          yield* Effect.exit(AdaptiveThrottler.withAdaptiveThrottler(Effect.fail(new NotFound()), throttler))
        }
        expect((yield* throttler.metrics).rejectionProbability).toBe(0) // answers, not rejections
        let exit: Exit.Exit<unknown, unknown> = Exit.void
        for (let i = 0; i < 100 && !isThrottled(exit); i++) {
          exit = yield* Effect.exit(AdaptiveThrottler.withAdaptiveThrottler(Effect.fail(new Overloaded()), throttler))
        }
        expect(isThrottled(exit)).toBe(true)
        const error = failureOf((exit as Exit.Failure<unknown, unknown>).cause)
        expect(error._tag === "Some" && (error.value as AdaptiveThrottler.ThrottledError).message).toMatch(
          /AdaptiveThrottler 'quotes' refused the call locally/
        )
        yield* settle
        expect(seen.some((e) => e._tag === "CallThrottled" && e.throttlerName === "quotes")).toBe(true)
      }).pipe(withSeed(3))
  )

  itScoped(
    "a call interrupted by its caller is attempted but never held against the dependency; a defect is a rejection",
    () =>
      Effect.gen(function*() {
        const throttler = yield* AdaptiveThrottler.make({ name: "quotes", window: "10 seconds" })
        const hanging = yield* forkChild(AdaptiveThrottler.withAdaptiveThrottler(Effect.never, throttler))
        yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(hanging)
        expect(yield* throttler.metrics).toMatchObject({
          requests: 1,
          accepts: 0,
          sentCalls: 0,
          rejectionProbability: 0
        })
        yield* Effect.exit(AdaptiveThrottler.withAdaptiveThrottler(Effect.interrupt, throttler))
        expect(yield* throttler.metrics).toMatchObject({ requests: 2, rejectionProbability: 0 })
        // One answer, a defect: p = 1/2 over the one answered request, not 1/3 or 2/3 over all three.
        yield* Effect.exit(AdaptiveThrottler.withAdaptiveThrottler(Effect.die("boom"), throttler))
        const after = yield* throttler.metrics
        expect(after).toMatchObject({ requests: 3, accepts: 0, sentCalls: 1, rejectedCalls: 1 })
        expect(after.rejectionProbability).toBeCloseTo(1 / 2)
        // The interrupted requests leave with their window.
        yield* TestClock.adjust("10 seconds")
        expect(yield* throttler.metrics).toMatchObject({ requests: 0, rejectionProbability: 0 })
      })
  )

  itScoped("counts a request when it is sent, its accept or rejection when it completes", () =>
    Effect.gen(function*() {
      const throttler = yield* AdaptiveThrottler.make({ name: "quotes" })
      const slowFailure = Effect.andThen(Effect.sleep("20 seconds"), Effect.fail(new Overloaded()))
      const failing = yield* Effect.forEach(
        Array.from({ length: 200 }),
        () => forkChild(Effect.exit(AdaptiveThrottler.withAdaptiveThrottler(slowFailure, throttler)))
      )
      // All 200 were sent (a first burst does not throttle itself) and are counted while in flight.
      yield* TestClock.adjust("19 seconds")
      expect(yield* throttler.metrics).toMatchObject({
        requests: 200,
        accepts: 0,
        sentCalls: 0,
        throttledCalls: 0,
        rejectionProbability: 0
      })
      yield* TestClock.adjust("1 second")
      yield* Fiber.joinAll(failing)
      expect(yield* throttler.metrics).toMatchObject({ requests: 200, accepts: 0, sentCalls: 200, rejectedCalls: 200 })
      expect((yield* throttler.metrics).rejectionProbability).toBeCloseTo(200 / 201)
      // A success is one more request at once, and an accept when it answers.
      const fast = yield* forkChild(
        AdaptiveThrottler.withAdaptiveThrottler(Effect.as(Effect.sleep("1 second"), "ok"), throttler).pipe(
          withSeed(1)
        )
      )
      yield* settle
      const sent = (yield* throttler.metrics).requests
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fast).pipe(Effect.exit)
      const after = yield* throttler.metrics
      expect(after.requests).toBe(sent)
      expect(after.accepts).toBe(after.sentCalls - after.rejectedCalls)
    }))

  itScoped(
    "refusals by the guards inside it are not the dependency's: a healthy dependency is never throttled",
    () =>
      Effect.gen(function*() {
        const hedge = yield* Hedge.make({ name: "quotes", delay: "100 millis" })
        const throttler = yield* AdaptiveThrottler.make({ name: "quotes", isRejection: () => true })
        const breaker = yield* CircuitBreaker.make({ name: "quotes" })
        const limiter = yield* AdaptiveLimiter.make({ name: "quotes", initialLimit: 1 })
        const guard = Policy.compose(
          Hedge.policy(hedge, { idempotent: true }),
          AdaptiveThrottler.policy(throttler),
          CircuitBreaker.policy(breaker),
          AdaptiveLimiter.policy(limiter)
        )
        // One long call holds the limiter's only slot; the dependency itself is healthy.
        const holding = yield* forkChild(guard(Effect.sleep("1 minute")))
        yield* settle
        for (let i = 0; i < 50; i++) {
          const exit = yield* Effect.exit(guard(Effect.succeed("ok")))
          expect(Exit.isFailure(exit)).toBe(true)
        }
        expect((yield* limiter.metrics).rejectedCalls).toBeGreaterThan(0)
        expect(yield* throttler.metrics).toMatchObject({
          requests: 1,
          accepts: 0,
          throttledCalls: 0,
          rejectionProbability: 0
        })
        yield* TestClock.adjust("1 minute")
        yield* Fiber.join(holding)
        expect(yield* throttler.metrics).toMatchObject({ requests: 1, accepts: 1, rejectionProbability: 0 })
      })
  )

  itScoped("composes with a circuit breaker, and reconfigures k and the window in place", () =>
    Effect.gen(function*() {
      const throttler = yield* AdaptiveThrottler.make({ name: "quotes" })
      const breaker = yield* CircuitBreaker.make({ name: "quotes", minimumNumberOfCalls: 5, slidingWindowSize: 5 })
      const guard = Policy.compose(CircuitBreaker.policy(breaker), AdaptiveThrottler.policy(throttler))
      for (let i = 0; i < 5; i++) yield* Effect.exit(guard(Effect.fail(new Overloaded())))
      expect(yield* breaker.state).toBe("Open")
      expect((yield* throttler.metrics).requests).toBe(5)
      yield* throttler.reconfigure({ k: 1.5, window: "30 seconds" })
      expect((yield* throttler.metrics).requests).toBe(5)
      const bad = yield* Effect.flip(throttler.reconfigure({ k: 0.5 }))
      expect(bad).toBeInstanceOf(InvalidConfigError)
      expect(bad.issues[0]!.field).toBe("k")
      const endless = yield* Effect.flip(throttler.reconfigure({ window: Duration.infinity }))
      expect(endless.issues.map((i) => `${i.field}: ${i.rule}`)).toEqual(["window: must be finite"])
    }))

  it.effect("reads its options through Config and rejects bad ones naming the field", () =>
    Effect.gen(function*() {
      const options = yield* withConfig(configFromJson({ quotes: { k: "1.5", window: 30000 } }))(
        AdaptiveThrottler.config("quotes")
      )
      expect(options).toEqual({ name: "quotes", k: 1.5, window: 30000 })
      const error = yield* Effect.flip(Effect.scoped(AdaptiveThrottler.make({ name: "q", window: "10 millis" })))
      expect(error.issues.map((i) => i.field)).toEqual(["window"])
      const infinite = yield* Effect.flip(
        Effect.scoped(AdaptiveThrottler.make({ name: "q", window: Duration.infinity }))
      )
      expect(infinite.issues.map((i) => i.field)).toEqual(["window"])
      class Tag extends Service<Tag, AdaptiveThrottler.AdaptiveThrottler>()("Tag") {}
      const built = yield* Effect.provide(Tag, AdaptiveThrottler.layer(Tag, { name: "a" }))
      expect(built.name).toBe("a")
      const read = yield* Effect.provide(Tag, AdaptiveThrottler.layerConfig(Tag, AdaptiveThrottler.config("quotes")))
        .pipe(
          withConfig(configFromJson({ quotes: { k: 3 } }))
        )
      expect(read.name).toBe("quotes")
    }))
})

describe("throttlerCore", () => {
  it("is the SRE formula", () => {
    expect(rejectionProbability(0, 0, 2)).toBe(0)
    expect(rejectionProbability(100, 50, 2)).toBe(0)
    expect(rejectionProbability(100, 10, 2)).toBeCloseTo(80 / 101)
  })

  it("forgets a bucket at a time, and keeps its counts when the window changes", () => {
    const core = new ThrottlerCore(10_000, 2, 0)
    for (let i = 0; i < 10; i++) core.record(i * 1000, false)
    expect(core.requests).toBe(10)
    core.probability(10_000 + 500 / BUCKETS) // the first bucket has left
    expect(core.requests).toBe(9)
    core.setWindow(20_000, 10_600)
    expect(core.requests).toBe(9)
    core.setWindow(5_000, 10_600)
    expect(core.requests).toBe(9)
    core.probability(100_000)
    expect(core.requests).toBe(0)
  })

  it("counts requests when sent, holds them against the dependency once answered, takes back withdrawn ones", () => {
    const core = new ThrottlerCore(10_000, 2, 0)
    const first = core.request(0)
    const second = core.request(0)
    const third = core.request(9_000)
    expect([core.requests, core.inFlight, core.probability(9_000)]).toEqual([3, 3, 0])
    core.answer(first, 9_500, false)
    expect(core.probability(9_500)).toBeCloseTo(1 / 2)
    core.answer(second, 9_500, true)
    expect([core.requests, core.accepts, core.inFlight, core.probability(9_500)]).toEqual([3, 1, 1, 0])
    core.withdraw(third, 9_600)
    expect([core.requests, core.inFlight]).toEqual([2, 0])
    const late = core.request(9_700)
    core.withdraw(late, 30_000) // its bucket has left the window: nothing to take back
    expect([core.requests, core.accepts, core.inFlight]).toEqual([0, 0, 0])
  })

  it("measures buckets from its creation time, not from the epoch", () => {
    const core = new ThrottlerCore(10_000, 2, 12_345)
    expect(core.request(12_345)).toBe(0)
    expect(core.request(12_845)).toBe(1)
    core.probability(22_344)
    expect([core.requests, core.inFlight]).toEqual([2, 2])
    core.probability(22_345) // 10 s after creation: the first bucket leaves
    expect([core.requests, core.inFlight]).toEqual([1, 1])
  })

  it("counts an accept recorded without a request in flight", () => {
    const core = new ThrottlerCore(10_000, 2, 0)
    core.record(0, true)
    core.record(0, false)
    expect([core.requests, core.accepts, core.inFlight]).toEqual([2, 1, 0])
    expect(core.probability(0)).toBe(0)
  })

  it("stays in its newest bucket when time goes backwards", () => {
    const core = new ThrottlerCore(10_000, 2, 0)
    expect(core.request(5_000)).toBe(10)
    expect(core.request(1_000)).toBe(10) // counted in the newest bucket, not in bucket 2
    core.probability(11_000) // buckets 11..22 roll in: bucket 2 would have left, bucket 10 has not
    expect([core.requests, core.inFlight]).toEqual([2, 2])
    core.probability(15_000)
    expect([core.requests, core.inFlight]).toEqual([0, 0])
  })

  it("ignores an answer or withdrawal with nothing pending in its bucket", () => {
    const core = new ThrottlerCore(10_000, 2, 0)
    const sent = core.request(0)
    core.answer(sent, 100, false)
    core.answer(sent, 200, false) // answered twice
    expect([core.requests, core.accepts, core.inFlight]).toEqual([1, 0, 0])
    core.withdraw(sent, 300) // already answered: stays held against the dependency
    expect([core.requests, core.accepts, core.inFlight]).toEqual([1, 0, 0])
    expect(core.probability(300)).toBeCloseTo(1 / 2)
  })

  it("ignores the answer to a request whose bucket has left the window, even though its slot is reused", () => {
    const core = new ThrottlerCore(10_000, 2, 0)
    const old = core.request(0)
    expect(core.request(10_000)).toBe(BUCKETS) // the same slot as bucket 0, one window later
    core.answer(old, 10_000, false)
    expect([core.requests, core.accepts, core.inFlight]).toEqual([1, 0, 1])
    core.answer(old, 10_000, true) // the accept still counts, in the bucket of now
    expect([core.requests, core.accepts, core.inFlight]).toEqual([1, 1, 1])
    core.withdraw(old, 10_000)
    expect([core.requests, core.accepts, core.inFlight]).toEqual([1, 1, 1])
    const answeredLate = core.request(10_000)
    core.answer(answeredLate, 19_999, false) // bucket 20 is the oldest still in the window

    expect([core.requests, core.accepts, core.inFlight]).toEqual([2, 1, 1])
  })

  it("answers a request sent from an older bucket still in the window in that bucket", () => {
    const core = new ThrottlerCore(10_000, 2, 0)
    const early = core.request(0)
    core.request(5_000)
    core.answer(early, 9_999, false)
    expect([core.requests, core.inFlight]).toEqual([2, 1])
    core.probability(10_000) // bucket 0 leaves with its answered request; bucket 10's is still in flight
    expect([core.requests, core.accepts, core.inFlight]).toEqual([1, 0, 1])
  })

  it("ignores an answer from a bucket number ahead of the ring after the window grew", () => {
    const core = new ThrottlerCore(10_000, 2, 0)
    core.request(0) // bucket 0: re-based to slot 12 below
    const ahead = core.request(6_000) // bucket 12
    core.setWindow(20_000, 7_500) // now bucket 7 of 1 s buckets
    core.answer(ahead, 7_500, false)
    expect([core.requests, core.inFlight]).toEqual([2, 2])
  })

  it("keeps each count in its bucket when the window grows, and lets it leave at the new length", () => {
    const core = new ThrottlerCore(10_000, 2, 0)
    core.request(0) // old bucket 0, in flight
    core.record(3_000, true) // old bucket 6
    core.record(3_000, false)
    for (let i = 0; i < 4; i++) core.record(7_500, false) // old bucket 15
    core.setWindow(20_000, 7_500) // 1 s buckets: old buckets 0, 6 and 15 become -8, -2 and 7
    expect(core.request(7_500)).toBe(7)
    const counts = (now: number) => {
      core.probability(now)
      return [core.requests, core.accepts, core.inFlight]
    }
    expect(counts(11_999)).toEqual([8, 1, 2])
    expect(counts(12_000)).toEqual([7, 1, 1])
    expect(counts(17_999)).toEqual([7, 1, 1])
    expect(counts(18_000)).toEqual([5, 0, 1])
    expect(counts(26_999)).toEqual([5, 0, 1])
    expect(counts(27_000)).toEqual([0, 0, 0])
  })

  it("keeps each count in its bucket when the window shrinks, and lets it leave at the new length", () => {
    const core = new ThrottlerCore(10_000, 2, 0)
    core.request(0) // old bucket 0, in flight
    core.record(3_000, true) // old bucket 6
    core.record(3_000, false)
    for (let i = 0; i < 4; i++) core.record(7_500, false) // old bucket 15
    core.setWindow(5_000, 7_500) // 250 ms buckets: old buckets 0, 6 and 15 become 15, 21 and 30
    expect(core.request(7_500)).toBe(30)
    const counts = (now: number) => {
      core.probability(now)
      return [core.requests, core.accepts, core.inFlight]
    }
    expect(counts(8_749)).toEqual([8, 1, 2])
    expect(counts(8_750)).toEqual([7, 1, 1])
    expect(counts(10_249)).toEqual([7, 1, 1])
    expect(counts(10_250)).toEqual([5, 0, 1])
    expect(counts(12_499)).toEqual([5, 0, 1])
    expect(counts(12_500)).toEqual([0, 0, 0])
  })

  it("keeps its ring as it is when the window changes within the current bucket numbering", () => {
    const core = new ThrottlerCore(10_000, 2, 0)
    core.record(0, false)
    core.setWindow(20_000, 0) // still bucket 0
    expect(core.request(999)).toBe(0)
    expect([core.requests, core.inFlight]).toEqual([2, 1])
    core.probability(19_999)
    expect([core.requests, core.inFlight]).toEqual([2, 1])
    core.probability(20_000)
    expect([core.requests, core.inFlight]).toEqual([0, 0])
  })
})

const isThrottled = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) &&
  failureOf(exit.cause).pipe((o) => o._tag === "Some" && o.value instanceof AdaptiveThrottler.ThrottledError)

void Duration
