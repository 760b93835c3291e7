import { failureOf, forkChild, Service } from "#port"
import { configFromJson, itScoped, TestClock, withConfig, yieldNow } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Data, Deferred, Duration, Effect, Exit, Fiber, Stream } from "effect"
import {
  aimd,
  gradient,
  type LimitSettings,
  nextBaseline,
  nextLimit,
  SampleWindow,
  type WindowSummary
} from "../src/core/adaptiveLimitCore.js"
import { InvalidConfigError } from "../src/errors/InvalidConfigError.js"
import * as AdaptiveLimiter from "../src/guards/AdaptiveLimiter.js"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as Hedge from "../src/guards/Hedge.js"
import * as Retry from "../src/guards/Retry.js"
import * as Policy from "../src/shared/Policy.js"

const settle = Effect.gen(function*() {
  for (let i = 0; i < 10; i++) yield* yieldNow
})

class Boom extends Data.TaggedError("Boom") {}
class NotFound extends Data.TaggedError("NotFound") {}

/** A call that runs until released. */
const holder = Effect.gen(function*() {
  const release = yield* Deferred.make<void>()
  return { call: Deferred.await(release), done: Deferred.succeed(release, undefined) }
})

const isLimitExceeded = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) &&
  failureOf(exit.cause).pipe((o) => o._tag === "Some" && o.value instanceof AdaptiveLimiter.LimitExceededError)

/** Runs `count` calls of `millis` each, one after another, through the limiter. */
const calls = (limiter: AdaptiveLimiter.AdaptiveLimiter, count: number, millis: number, fail = false) =>
  Effect.forEach(Array.from({ length: count }), () =>
    Effect.gen(function*() {
      const call = Effect.andThen(Effect.sleep(Duration.millis(millis)), fail ? Effect.fail(new Boom()) : Effect.void)
      const fiber = yield* forkChild(Effect.exit(AdaptiveLimiter.withAdaptiveLimiter(call, limiter)))
      yield* TestClock.adjust(Duration.millis(millis))
      return yield* Fiber.join(fiber)
    }), { discard: true })

describe("AdaptiveLimiter", () => {
  itScoped("admits up to the limit and refuses beyond it with LimitExceededError", () =>
    Effect.gen(function*() {
      const limiter = yield* AdaptiveLimiter.make({ name: "db", initialLimit: 2 })
      expect(yield* limiter.metrics).toEqual({
        limit: 2,
        inFlight: 0,
        waiting: 0,
        noLoadLatencyMillis: -1,
        rejectedCalls: 0
      })
      const { call, done } = yield* holder
      const running = yield* Effect.forEach(
        [1, 2],
        () => forkChild(AdaptiveLimiter.withAdaptiveLimiter(call, limiter))
      )
      yield* settle
      const refused = yield* Effect.exit(AdaptiveLimiter.withAdaptiveLimiter(Effect.void, limiter))
      expect(isLimitExceeded(refused)).toBe(true)
      const error = failureOf((refused as Exit.Failure<unknown, unknown>).cause)
      expect(error._tag === "Some" && (error.value as AdaptiveLimiter.LimitExceededError).message).toBe(
        "AdaptiveLimiter 'db' is at its limit of 2 and does not permit further calls"
      )
      expect(yield* limiter.metrics).toMatchObject({ inFlight: 2, rejectedCalls: 1 })
      yield* done
      yield* Fiber.joinAll(running)
      expect((yield* limiter.metrics).inFlight).toBe(0)
    }))

  itScoped(
    "queues callers for at most maxWaitDuration, FIFO, and lets an interrupted waiter go",
    () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveLimiter.make({ name: "db", initialLimit: 1, maxWaitDuration: "100 millis" })
        const { call, done } = yield* holder
        const first = yield* forkChild(AdaptiveLimiter.withAdaptiveLimiter(call, limiter))
        yield* settle
        const waiting = yield* forkChild(
          Effect.exit(AdaptiveLimiter.withAdaptiveLimiter(Effect.succeed("second"), limiter))
        )
        const leaving = yield* forkChild(AdaptiveLimiter.withAdaptiveLimiter(Effect.succeed("third"), limiter))
        yield* settle
        expect((yield* limiter.metrics).waiting).toBe(2)
        yield* Fiber.interrupt(leaving)
        expect((yield* limiter.metrics).waiting).toBe(1)
        yield* done
        yield* Fiber.join(first)
        expect(yield* Fiber.join(waiting)).toEqual(Exit.succeed("second"))

        const { call: blocking, done: unblock } = yield* holder
        const holderFiber = yield* forkChild(AdaptiveLimiter.withAdaptiveLimiter(blocking, limiter))
        yield* settle
        const timedOut = yield* forkChild(Effect.exit(AdaptiveLimiter.withAdaptiveLimiter(Effect.void, limiter)))
        yield* settle
        yield* TestClock.adjust("100 millis")
        expect(isLimitExceeded(yield* Fiber.join(timedOut))).toBe(true)
        yield* unblock
        yield* Fiber.join(holderFiber)
      })
  )

  itScoped(
    "aimd: grows by one per window in use, backs off on a failed window, not on an ignored failure",
    () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveLimiter.make({
          name: "db",
          algorithm: "aimd",
          initialLimit: 2,
          windowDuration: "100 millis",
          minWindowSamples: 2,
          isDrop: (e) => !(e instanceof NotFound)
        })
        const seen: Array<AdaptiveLimiter.Event> = []
        yield* Effect.forkScoped(Stream.runForEach(limiter.events, (e) => Effect.sync(() => seen.push(e))))
        yield* settle
        yield* calls(limiter, 2, 50) // one window of 100 ms, in use (1 in flight × 2 >= 2)
        expect((yield* limiter.metrics).limit).toBe(3)
        expect((yield* limiter.metrics).noLoadLatencyMillis).toBe(50)
        yield* calls(limiter, 2, 50, true)
        expect((yield* limiter.metrics).limit).toBe(2) // 3 × 0.9
        // NotFound is an answer, not a drop: the window (two at a time, so the limit is in use) grows it.
        const notFound = Effect.andThen(Effect.sleep("50 millis"), Effect.fail(new NotFound()))
        for (let round = 0; round < 2; round++) {
          const pair = yield* Effect.forEach(
            [1, 2],
            () => forkChild(Effect.exit(AdaptiveLimiter.withAdaptiveLimiter(notFound, limiter)))
          )
          yield* TestClock.adjust("50 millis")
          yield* Fiber.joinAll(pair)
        }
        expect((yield* limiter.metrics).limit).toBe(3)
        yield* settle
        expect(seen.map((e) => e._tag === "LimitChanged" ? `${e.from}->${e.to}` : e._tag)).toEqual([
          "2->3",
          "3->2",
          "2->3"
        ])
      })
  )

  itScoped(
    "a call slower than timeout is a drop; a defect is a drop; an interruption within the timeout teaches nothing",
    () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveLimiter.make({
          name: "db",
          algorithm: "aimd",
          initialLimit: 10,
          timeout: "100 millis",
          windowDuration: "100 millis",
          minWindowSamples: 1
        })
        yield* calls(limiter, 1, 150)
        expect((yield* limiter.metrics).limit).toBe(9)
        const died = yield* forkChild(
          Effect.exit(
            AdaptiveLimiter.withAdaptiveLimiter(Effect.andThen(Effect.sleep("100 millis"), Effect.die("x")), limiter)
          )
        )
        yield* TestClock.adjust("100 millis")
        yield* Fiber.join(died)
        expect((yield* limiter.metrics).limit).toBe(8)
        // Interrupted within the timeout: nothing learnt.
        const interrupted = yield* forkChild(AdaptiveLimiter.withAdaptiveLimiter(Effect.never, limiter))
        yield* TestClock.adjust("50 millis")
        yield* Fiber.interrupt(interrupted)
        expect(yield* limiter.metrics).toMatchObject({ limit: 8, inFlight: 0 })
      })
  )

  itScoped(
    "reconfigure keeps the limit within new bounds and refuses bad values naming the field",
    () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveLimiter.make({ name: "db", initialLimit: 20 })
        yield* limiter.reconfigure({ maxLimit: 10 })
        expect((yield* limiter.metrics).limit).toBe(10)
        yield* limiter.reconfigure({ minLimit: 15, maxLimit: 30, algorithm: "aimd" })
        expect((yield* limiter.metrics).limit).toBe(15)
        const error = yield* Effect.flip(limiter.reconfigure({ minLimit: 40 }))
        expect(error).toBeInstanceOf(InvalidConfigError)
        expect(error.issues.map((i) => i.field)).toEqual(["maxLimit"])
        const bad = yield* Effect.flip(
          AdaptiveLimiter.make({ name: "x", minLimit: 5, initialLimit: 2, backoffRatio: 2 })
        )
        expect(bad.issues.map((i) => i.field).sort()).toEqual(["backoffRatio"])
        const order = yield* Effect.flip(AdaptiveLimiter.make({ name: "x", minLimit: 5, initialLimit: 2 }))
        expect(order.issues.map((i) => i.field)).toEqual(["initialLimit"])
        const high = yield* Effect.flip(AdaptiveLimiter.make({ name: "x", maxLimit: 5, initialLimit: 20 }))
        expect(high.issues.map((i) => `${i.field}: ${i.rule}`)).toEqual(["initialLimit: must be at most maxLimit"])
        const endless = yield* Effect.flip(AdaptiveLimiter.make({ name: "x", windowDuration: Duration.infinity }))
        expect(endless.issues.map((i) => `${i.field}: ${i.rule}`)).toEqual(["windowDuration: must be finite"])
        expect((yield* Effect.flip(limiter.reconfigure({ windowDuration: Duration.infinity }))).issues[0]!.field).toBe(
          "windowDuration"
        )
      })
  )

  itScoped("composes with a circuit breaker and a retry; refusals are typed", () =>
    Effect.gen(function*() {
      const limiter = yield* AdaptiveLimiter.make({ name: "db", initialLimit: 1 })
      const breaker = yield* CircuitBreaker.make({ name: "db" })
      const retry = yield* Retry.make({ name: "db", maxAttempts: 2, waitDuration: 0 })
      const guard = Policy.compose(Retry.policy(retry), CircuitBreaker.policy(breaker), AdaptiveLimiter.policy(limiter))
      const { call, done } = yield* holder
      const running = yield* forkChild(guard(call))
      yield* settle
      const refused: Effect.Effect<
        string,
        AdaptiveLimiter.LimitExceededError | CircuitBreaker.CallNotPermittedError | Retry.MaxRetriesExceededError
      > = guard(Effect.succeed("x"))
      const exit = yield* Effect.exit(refused)
      expect(isLimitExceeded(exit)).toBe(true)
      expect((yield* limiter.metrics).rejectedCalls).toBe(1) // refusals are not retried by default
      yield* done
      yield* Fiber.join(running)
    }))

  itScoped(
    "by default, 2% business errors against an unlimited 100 ms dependency do not shrink the limit",
    () =>
      Effect.gen(function*() {
        for (const algorithm of ["gradient", "aimd"] as const) {
          const limiter = yield* AdaptiveLimiter.make({ name: "api", algorithm, maxWaitDuration: Duration.infinity })
          let n = 0
          // The dependency has no capacity limit: every call takes 100 ms (calls finish together on a
          // 100 ms tick, so TestClock has one wake-up per tick); one in 50 is a business error.
          let tick = yield* Deferred.make<void>()
          const ticker = yield* forkChild(Effect.forever(Effect.andThen(
            Effect.sleep("100 millis"),
            Effect.flatMap(Deferred.make<void>(), (next) => {
              const due = tick
              tick = next
              return Deferred.succeed(due, undefined)
            })
          )))
          const call = Effect.andThen(
            Effect.suspend(() => Deferred.await(tick)),
            Effect.suspend(() => ++n % 50 === 0 ? Effect.fail(new NotFound()) : Effect.void)
          )
          const callers = yield* Effect.forEach(
            Array.from({ length: 40 }),
            () => forkChild(Effect.forever(Effect.exit(AdaptiveLimiter.withAdaptiveLimiter(call, limiter))))
          )
          const limits: Array<number> = []
          for (let second = 0; second < 30; second++) {
            yield* TestClock.adjust("1 second")
            limits.push((yield* limiter.metrics).limit)
          }
          yield* Fiber.interruptAll([ticker, ...callers])
          expect(n).toBeGreaterThan(5_000)
          expect(Math.min(...limits)).toBeGreaterThanOrEqual(20)
        }
      })
  )

  itScoped(
    "local refusals by guards inside it are neither samples nor drops, whatever isDrop says",
    () =>
      Effect.gen(function*() {
        const outer = yield* AdaptiveLimiter.make({
          name: "outer",
          algorithm: "aimd",
          initialLimit: 10,
          windowDuration: "10 millis",
          minWindowSamples: 1,
          isDrop: () => true
        })
        const inner = yield* AdaptiveLimiter.make({ name: "inner", initialLimit: 1 })
        const guard = Policy.compose(AdaptiveLimiter.policy(outer), AdaptiveLimiter.policy(inner))
        const { call, done } = yield* holder
        const running = yield* forkChild(AdaptiveLimiter.withAdaptiveLimiter(call, inner))
        yield* settle
        for (let i = 0; i < 20; i++) {
          yield* TestClock.adjust("10 millis")
          expect(isLimitExceeded(yield* Effect.exit(guard(Effect.void)))).toBe(true)
        }
        expect(yield* outer.metrics).toMatchObject({ limit: 10, inFlight: 0, noLoadLatencyMillis: -1 })
        expect((yield* inner.metrics).rejectedCalls).toBe(20)
        yield* done
        yield* Fiber.join(running)
      })
  )

  itScoped("inside a hedge, a loser interrupted after outlasting timeout is a drop", () =>
    Effect.gen(function*() {
      const limiter = yield* AdaptiveLimiter.make({
        name: "db",
        algorithm: "aimd",
        initialLimit: 10,
        timeout: "300 millis",
        windowDuration: "100 millis",
        minWindowSamples: 1
      })
      const hedge = yield* Hedge.make({ name: "db", delay: "500 millis" })
      let attempts = 0
      // The first attempt hangs; the hedge, sent at 500 ms, answers in 10 ms and wins.
      const call = Effect.suspend(() => attempts++ === 0 ? Effect.never : Effect.sleep("10 millis"))
      const guard = Policy.compose(Hedge.policy(hedge, { idempotent: true }), AdaptiveLimiter.policy(limiter))
      const fiber = yield* forkChild(guard(call))
      yield* TestClock.adjust("510 millis")
      yield* Fiber.join(fiber)
      yield* settle
      expect(yield* limiter.metrics).toMatchObject({ limit: 10, inFlight: 0 })
      // The loser ran 510 ms > timeout: a drop, so the window it closes with backs off (10 × 0.9).
      yield* calls(limiter, 1, 100)
      expect((yield* limiter.metrics).limit).toBe(9)
      expect((yield* hedge.metrics).hedgesWon).toBe(1)
    }))

  it.effect("reads its options through Config, and layers build it", () =>
    Effect.gen(function*() {
      const provider = configFromJson({ search: { algorithm: "aimd", maxLimit: 100, timeout: 300 } })
      const options = yield* withConfig(provider)(AdaptiveLimiter.config("search"))
      expect(options).toEqual({ name: "search", algorithm: "aimd", maxLimit: 100, timeout: 300 })
      class Tag extends Service<Tag, AdaptiveLimiter.AdaptiveLimiter>()("Tag") {}
      const fromCode = yield* Effect.provide(Tag, AdaptiveLimiter.layer(Tag, { name: "a", initialLimit: 3 }))
      expect((yield* fromCode.metrics).limit).toBe(3)
      const fromConfig = yield* Effect.provide(
        Tag,
        AdaptiveLimiter.layerConfig(Tag, AdaptiveLimiter.config("search"), { initialLimit: 7 })
      ).pipe(withConfig(provider))
      expect(fromConfig.name).toBe("search")
      expect((yield* fromConfig.metrics).limit).toBe(7)
    }))
})

const settings: LimitSettings = {
  algorithm: "gradient",
  minLimit: 1,
  maxLimit: 100,
  backoffRatio: 0.9,
  timeoutMillis: 5000,
  smoothing: 0.2,
  tolerance: 1,
  queueSize: 4,
  baselineWindows: 9,
  windowMillis: 1000,
  minWindowSamples: 10
}
const window = (averageMillis: number, maxInFlight: number, dropped = false): WindowSummary => ({
  samples: 10,
  averageMillis,
  maxInFlight,
  dropped
})

describe("adaptiveLimitCore", () => {
  it("gradient: grows by smoothing × queueSize at the baseline, halves at most, ignores an idle limit and drops", () => {
    const state = { limit: 20, noLoadMillis: 100 }
    expect(gradient(settings, state, window(100, 20)).limit).toBeCloseTo(20.8)
    expect(gradient(settings, state, window(100, 5)).limit).toBe(20) // not in use: no growth
    // Four times slower: the gradient is clamped at 0.5.
    expect(gradient(settings, state, window(400, 20)).limit).toBeCloseTo(20 * 0.8 + (10 + 4) * 0.2)
    // Drops are ignored (Gradient2): a window with a failure at the baseline latency still grows.
    expect(gradient(settings, state, window(100, 20, true)).limit).toBeCloseTo(20.8)
  })

  it("gradient: an idle window that is slower than the baseline still shrinks the limit", () => {
    // Only a window at the baseline (slope 1) leaves an idle limit alone.
    expect(gradient(settings, { limit: 20, noLoadMillis: 100 }, window(400, 5)).limit).toBeCloseTo(18.8)
  })

  it("gradient: calls faster than the clock can tell (0 ms on average) count as at the baseline", () => {
    // Under TestClock, or with a coarse clock, a window can average 0 ms against a 0 ms baseline.
    expect(gradient(settings, { limit: 20, noLoadMillis: 0 }, window(0, 20)).limit).toBeCloseTo(20.8)
  })

  it("nextLimit runs the configured algorithm", () => {
    const dropped = window(100, 10, true)
    expect(nextLimit({ ...settings, algorithm: "aimd" }, { limit: 10, noLoadMillis: 100 }, dropped).limit).toBe(9)
    expect(nextLimit(settings, { limit: 10, noLoadMillis: 100 }, dropped).limit).toBeCloseTo(10.8)
  })

  it("the drift correction starts only above twice the window's latency", () => {
    // factor 2 / (9 + 1): 225 + (100 - 225) × 0.2 = 200, exactly twice 100: no correction.
    expect(nextBaseline(settings, 225, window(100, 1))).toBe(200)
  })

  it("aimd: +1 in use, × backoffRatio on a drop, bounded", () => {
    const aimdSettings = { ...settings, algorithm: "aimd" as const, maxLimit: 20 }
    expect(aimd(aimdSettings, { limit: 10, noLoadMillis: NaN }, window(100, 5)).limit).toBe(11)
    expect(aimd(aimdSettings, { limit: 10, noLoadMillis: NaN }, window(100, 4)).limit).toBe(10)
    expect(aimd(aimdSettings, { limit: 20, noLoadMillis: NaN }, window(100, 20)).limit).toBe(20)
    expect(aimd(aimdSettings, { limit: 10, noLoadMillis: NaN }, window(100, 10, true)).limit).toBe(9)
  })

  it("the baseline starts at the first window, averages slowly, and drops fast after a slow spell", () => {
    expect(nextBaseline(settings, NaN, window(100, 1))).toBe(100)
    expect(nextBaseline(settings, 100, window(200, 1))).toBeCloseTo(120) // factor 2 / (9 + 1)
    expect(nextBaseline(settings, 500, window(100, 1))).toBeCloseTo((500 - 80) * 0.95)
  })

  it("a window closes when it has lasted long enough and holds enough samples", () => {
    const w = new SampleWindow(0)
    for (let i = 0; i < 9; i++) w.add(100, i, false)
    expect(w.isClosed(settings, 2000)).toBe(false)
    w.add(300, 3, true)
    expect(w.isClosed(settings, 999)).toBe(false)
    expect(w.isClosed(settings, 1000)).toBe(true)
    expect(w.close(1000)).toEqual({ samples: 10, averageMillis: 120, maxInFlight: 8, dropped: true })
    expect(w.samples).toBe(0)
  })
})
