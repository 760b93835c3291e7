import { failureOf, forkChild, Service } from "#port"
import { configFromJson, itScoped, pollFiber, TestClock, withConfig, yieldNow } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Data, Duration, Effect, Exit, Fiber, Option, Stream } from "effect"
import { LatencySample } from "../src/core/latencySample.js"
import { InvalidConfigError } from "../src/errors/InvalidConfigError.js"
import * as Hedge from "../src/guards/Hedge.js"
import * as Retry from "../src/guards/Retry.js"
import * as RetryBudget from "../src/guards/RetryBudget.js"
import * as TimeLimiter from "../src/guards/TimeLimiter.js"
import * as Registry from "../src/registry/Registry.js"
import * as Policy from "../src/shared/Policy.js"

const settle = Effect.gen(function*() {
  for (let i = 0; i <= 9; i++) yield* yieldNow
})

class Unavailable extends Data.TaggedError("Unavailable")<{ readonly attempt: number }> {}

/**
 * A call whose n-th attempt (0 = the first) takes `latencies[n]` millis and then does `outcome(n)`;
 * records when each attempt started, finished or was interrupted.
 */
const scripted = (latencies: ReadonlyArray<number>, outcome: (n: number) => "succeed" | "fail" = () => "succeed") => {
  const log = { started: [] as Array<number>, interrupted: [] as Array<number>, finished: [] as Array<number> }
  let attempts = 0
  const call = Effect.suspend(() => {
    const n = attempts++
    log.started.push(n)
    return Effect.sleep(Duration.millis(latencies[n] ?? latencies.at(-1)!)).pipe(
      Effect.andThen(
        outcome(n) === "succeed" ? Effect.succeed(`attempt ${n}`) : Effect.fail(new Unavailable({ attempt: n }))
      ),
      Effect.tap(() => Effect.sync(() => log.finished.push(n))),
      Effect.onInterrupt(() => Effect.sync(() => log.interrupted.push(n)))
    )
  })
  return { call, log }
}

const failure = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) ? Option.getOrUndefined(failureOf(exit.cause)) : undefined

describe("Hedge", () => {
  itScoped(
    "starts a hedge after the delay; the first success wins and the loser is interrupted",
    () =>
      Effect.gen(function*() {
        const hedge = yield* Hedge.make({ name: "profiles", delay: "100 millis" })
        const { call, log } = scripted([1000, 50])
        const fiber = yield* forkChild(Hedge.withHedge(call, hedge, { idempotent: true }))
        yield* TestClock.adjust("99 millis")
        expect(log.started).toEqual([0])
        yield* TestClock.adjust("1 millis")
        expect(log.started).toEqual([0, 1])
        yield* TestClock.adjust("50 millis")
        expect(yield* Fiber.join(fiber)).toBe("attempt 1")
        expect(log.interrupted).toEqual([0])
        expect(yield* hedge.metrics).toMatchObject({
          calls: 1,
          hedgesStarted: 1,
          hedgesWon: 1,
          hedgesRefusedByBudget: 0
        })
      })
  )

  itScoped("a fast first attempt starts no hedge", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ name: "profiles", delay: "100 millis" })
      const { call, log } = scripted([30])
      const fiber = yield* forkChild(Hedge.withHedge(call, hedge, { idempotent: true }))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toBe("attempt 0")
      expect(log.started).toEqual([0])
      expect((yield* hedge.metrics).hedgesStarted).toBe(0)
    }))

  itScoped("starts at most maxHedgedAttempts hedges, one delay apart", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ name: "profiles", delay: "100 millis", maxHedgedAttempts: 2 })
      const { call, log } = scripted([10_000])
      const fiber = yield* forkChild(Hedge.withHedge(call, hedge, { idempotent: true }))
      yield* TestClock.adjust("150 millis")
      expect(log.started).toEqual([0, 1])
      yield* TestClock.adjust("5 seconds")
      expect(log.started).toEqual([0, 1, 2])
      yield* TestClock.adjust("5 seconds")
      expect(yield* Fiber.join(fiber)).toBe("attempt 0")
      expect(log.interrupted).toEqual([1, 2])
      expect((yield* hedge.metrics).hedgesStarted).toBe(2)
    }))

  itScoped("a budget that refuses stops hedging; the first attempt runs on", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "reads", minRetriesPerSecond: 0, percentCanRetry: 0 })
      const hedge = yield* Hedge.make({ name: "profiles", delay: "100 millis", maxHedgedAttempts: 3, budget })
      const seen: Array<Hedge.Event> = []
      yield* Effect.forkScoped(Stream.runForEach(hedge.events, (e) => Effect.sync(() => seen.push(e))))
      yield* settle
      const { call, log } = scripted([1000])
      const fiber = yield* forkChild(Hedge.withHedge(call, hedge, { idempotent: true }))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toBe("attempt 0")
      expect(log.started).toEqual([0])
      expect(yield* hedge.metrics).toMatchObject({ hedgesStarted: 0, hedgesRefusedByBudget: 1 })
      expect((yield* budget.metrics).refusals).toBe(1)
      yield* settle
      expect(seen.map((e) => `${e._tag}#${e.attempt}`)).toEqual(["HedgeRefused#1"])
    }))

  itScoped(
    "the default budget (Finagle's) lets 20% of the calls be hedged beyond its floor",
    () =>
      Effect.gen(function*() {
        const hedge = yield* Hedge.make({ name: "profiles", delay: "10 millis" })
        const call = Effect.sleep("20 millis")
        // 150 slow calls at once: more hedges than the floor (10/s × 10 s) plus 20% of 150 allow.
        const fibers = yield* Effect.forEach(
          Array.from({ length: 150 }),
          () => forkChild(Hedge.withHedge(call, hedge, { idempotent: true }))
        )
        yield* TestClock.adjust("20 millis")
        yield* Fiber.joinAll(fibers)
        const m = yield* hedge.metrics
        expect(m.hedgesStarted).toBe(100 + 0.2 * 150)
        expect(m.hedgesRefusedByBudget).toBe(150 - m.hedgesStarted)
        expect(hedge.budget.name).toBe("profiles")
      })
  )

  itScoped(
    "uses the measured percentile as the delay once warmed up, the fixed delay before",
    () =>
      Effect.gen(function*() {
        const hedge = yield* Hedge.make({ name: "profiles", delay: "500 millis", percentile: 90, minSamples: 5 })
        expect((yield* hedge.metrics).delayMillis).toBe(500)
        for (const millis of [10, 20, 30, 40, 50]) {
          const fiber = yield* forkChild(
            Hedge.withHedge(Effect.sleep(Duration.millis(millis)), hedge, { idempotent: true })
          )
          yield* TestClock.adjust(Duration.millis(millis))
          yield* Fiber.join(fiber)
        }
        expect(yield* hedge.metrics).toMatchObject({ delayMillis: 50, samples: 5, hedgesStarted: 0 })
        const { call, log } = scripted([1000, 5])
        const fiber = yield* forkChild(Hedge.withHedge(call, hedge, { idempotent: true }))
        yield* TestClock.adjust("50 millis")
        expect(log.started).toEqual([0, 1])
        yield* TestClock.adjust("5 millis")
        expect(yield* Fiber.join(fiber)).toBe("attempt 1")
      })
  )

  itScoped("a call not marked idempotent is never hedged", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ name: "profiles", delay: "10 millis" })
      const { call, log } = scripted([1000])
      // @ts-expect-error: hedging requires the caller to state that the call is idempotent
      const unmarked = Hedge.withHedge(call, hedge, { idempotent: false })
      const fiber = yield* forkChild(unmarked)
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toBe("attempt 0")
      expect(log.started).toEqual([0])
      expect((yield* hedge.metrics).calls).toBe(0)
    }))

  itScoped(
    "a failed attempt waits for the others; once none is left running the last failure ends the call",
    () =>
      Effect.gen(function*() {
        const hedge = yield* Hedge.make({ name: "profiles", delay: "100 millis", maxHedgedAttempts: 2 })
        const first = scripted([150, 100], (n) => n === 0 ? "fail" : "succeed")
        const won = yield* forkChild(Hedge.withHedge(first.call, hedge, { idempotent: true }))
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.join(won)).toBe("attempt 1")

        const allFail = scripted([150, 80], () => "fail")
        const lost = yield* forkChild(Effect.exit(Hedge.withHedge(allFail.call, hedge, { idempotent: true })))
        yield* TestClock.adjust("1 second")
        const exit = yield* Fiber.join(lost)
        expect(failure(exit)).toEqual(new Unavailable({ attempt: 1 }))
        expect(allFail.log.started).toEqual([0, 1]) // no hedge after everything failed: a hedge is not a retry

        const early = scripted([50], () => "fail")
        const failed = yield* forkChild(Effect.exit(Hedge.withHedge(early.call, hedge, { idempotent: true })))
        yield* TestClock.adjust("1 second")
        expect(failure(yield* Fiber.join(failed))).toEqual(new Unavailable({ attempt: 0 }))
        expect(early.log.started).toEqual([0])
      })
  )

  itScoped("interrupting the caller interrupts every attempt", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ name: "profiles", delay: "100 millis" })
      const { call, log } = scripted([10_000])
      const fiber = yield* forkChild(Hedge.withHedge(call, hedge, { idempotent: true }))
      yield* TestClock.adjust("200 millis")
      yield* Fiber.interrupt(fiber)
      expect(log.interrupted.sort()).toEqual([0, 1])
    }))

  itScoped(
    "the winner answers at once; a loser slow to stop is interrupted in the background, not awaited",
    () =>
      Effect.gen(function*() {
        const hedge = yield* Hedge.make({ name: "profiles", delay: "10 millis" })
        const log = { interrupted: [] as Array<number>, answeredAt: -1 }
        let attempts = 0
        // The first attempt cannot be interrupted for 5 s; the hedge, sent at 10 ms, answers at 20 ms.
        const call = Effect.suspend(() => {
          const n = attempts++
          const work = n === 0 ? Effect.uninterruptible(Effect.sleep("5 seconds")) : Effect.sleep("10 millis")
          return work.pipe(
            Effect.as(`attempt ${n}`),
            Effect.onInterrupt(() => Effect.sync(() => log.interrupted.push(n)))
          )
        })
        const fiber = yield* forkChild(
          Hedge.withHedge(call, hedge, { idempotent: true }).pipe(
            Effect.tap(() => Effect.map(Clock.currentTimeMillis, (now) => log.answeredAt = now)),
            Effect.tap(() => Effect.sleep("10 seconds")) // the caller goes on with its work
          )
        )
        yield* TestClock.adjust("20 millis")
        yield* settle
        expect(log.answeredAt).toBe(20)
        expect(log.interrupted).toEqual([])
        // The loser is interrupted once it can be: at 5 s, while the caller still runs.
        yield* TestClock.adjust("5 seconds")
        yield* settle
        expect(log.interrupted).toEqual([0])
        yield* TestClock.adjust("10 seconds")
        expect(yield* Fiber.join(fiber)).toBe("attempt 1")
        expect(yield* hedge.metrics).toMatchObject({ calls: 1, hedgesStarted: 1, hedgesWon: 1 })
      })
  )

  itScoped(
    "a winner inside a timeout or a time limiter is not held back by a loser slow to stop",
    () =>
      Effect.gen(function*() {
        const hedge = yield* Hedge.make({ name: "profiles", delay: "10 millis" })
        // A call whose first attempt cannot be interrupted for 5 s and whose hedge answers in 10 ms.
        const slowFirst = () => {
          let attempts = 0
          return Effect.suspend(() => {
            const n = attempts++
            return (n === 0 ? Effect.uninterruptible(Effect.sleep("5 seconds")) : Effect.sleep("10 millis")).pipe(
              Effect.as(`attempt ${n}`)
            )
          })
        }
        const limiter = yield* TimeLimiter.make({ name: "profiles", timeoutDuration: "1 second" })
        const hedged = () => Hedge.withHedge(slowFirst(), hedge, { idempotent: true })
        // Both wrappers run the hedge in a fiber of their own: it must end when the winner answers.
        const timed = yield* forkChild(Effect.timeout(hedged(), "1 second"))
        const limited = yield* forkChild(TimeLimiter.withTimeLimiter(hedged(), limiter))
        yield* TestClock.adjust("20 millis")
        yield* settle
        // Both have ended by 20 ms, long before the loser stops at 5 s.
        expect(Option.map(yield* pollFiber(timed), Exit.isSuccess)).toEqual(Option.some(true))
        expect(Option.map(yield* pollFiber(limited), Exit.isSuccess)).toEqual(Option.some(true))
        expect(yield* Fiber.join(timed)).toBe("attempt 1")
        expect(yield* Fiber.join(limited)).toBe("attempt 1")
        yield* TestClock.adjust("5 seconds") // the losers end in the background
      })
  )

  itScoped("composes with a retry: each retry is hedged on its own", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ name: "profiles", delay: "100 millis" })
      const retry = yield* Retry.make({ name: "profiles", maxAttempts: 2, waitDuration: "10 millis" })
      const guard = Policy.compose(Retry.policy(retry), Hedge.policy(hedge, { idempotent: true }))
      const { call, log } = scripted([50, 500, 500], (n) => n === 0 ? "fail" : "succeed")
      const fiber = yield* forkChild(guard(call))
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(fiber)).toBe("attempt 1")
      expect(log.started).toEqual([0, 1, 2])
      expect(log.interrupted).toEqual([2])
      expect((yield* hedge.metrics).calls).toBe(2)
    }))

  itScoped("reconfigures in place; bad options fail naming the field", () =>
    Effect.gen(function*() {
      const hedge = yield* Hedge.make({ name: "profiles", delay: "100 millis", percentile: 95, minSamples: 1 })
      yield* forkChild(Hedge.withHedge(Effect.sleep("10 millis"), hedge, { idempotent: true }))
      yield* TestClock.adjust("10 millis")
      expect((yield* hedge.metrics).delayMillis).toBe(10)
      yield* hedge.reconfigure({ percentile: undefined, delay: "20 millis" })
      expect((yield* hedge.metrics).delayMillis).toBe(20)
      yield* hedge.reconfigure({ sampleSize: 10 })
      expect((yield* hedge.metrics).samples).toBe(0)
      const error = yield* Effect.flip(hedge.reconfigure({ minSamples: 50 }))
      expect(error).toBeInstanceOf(InvalidConfigError)
      expect(error.issues.map((i) => i.field)).toEqual(["minSamples"])
      const bad = yield* Effect.flip(Hedge.make({ name: "x", percentile: 100, maxHedgedAttempts: -1 }))
      expect(bad.issues.map((i) => i.field).sort()).toEqual(["maxHedgedAttempts", "percentile"])
      const never = yield* Effect.flip(Hedge.make({ name: "x", delay: Duration.infinity }))
      expect(never.issues.map((i) => `${i.field}: ${i.rule}`)).toEqual(["delay: must be finite"])
    }))

  itScoped(
    "reconfigure keeps its budget: the same one is accepted, another is refused naming budget",
    () =>
      Effect.gen(function*() {
        const budget = yield* RetryBudget.make({ name: "reads" })
        const hedge = yield* Hedge.make({ name: "profiles", budget })
        yield* hedge.reconfigure({ budget, delay: "20 millis" })
        expect((yield* hedge.metrics).delayMillis).toBe(20)
        const other = yield* RetryBudget.make({ name: "other" })
        const error = yield* Effect.flip(hedge.reconfigure({ budget: other, delay: "30 millis" }))
        expect(error).toBeInstanceOf(InvalidConfigError)
        expect(error.issues.map((i) => `${i.field}: ${i.rule}`)).toEqual(["budget: cannot change after creation"])
        expect(hedge.budget).toBe(budget)
        expect((yield* hedge.metrics).delayMillis).toBe(20)
        // The Registry hands the same budget back on reload: accepted.
        const registry = yield* Registry.make()
        const shared = yield* registry.hedge("shared", { budget })
        yield* registry.reload({ hedge: { instances: { shared: { delay: 40 } } } })
        expect((yield* shared.metrics).delayMillis).toBe(40)
        expect(shared.budget).toBe(budget)
      })
  )

  it.effect("reads its options through Config", () =>
    Effect.gen(function*() {
      const options = yield* withConfig(
        configFromJson({ profiles: { percentile: 95, delay: 40, maxHedgedAttempts: 2 } })
      )(Hedge.config("profiles"))
      expect(options).toEqual({ name: "profiles", percentile: 95, delay: 40, maxHedgedAttempts: 2 })
      class Tag extends Service<Tag, Hedge.Hedge>()("Tag") {}
      const built = yield* Effect.provide(Tag, Hedge.layer(Tag, { name: "a" }))
      expect(built.budget.name).toBe("a")
      const read = yield* Effect.provide(Tag, Hedge.layerConfig(Tag, Hedge.config("profiles"), { minSamples: 5 })).pipe(
        withConfig(configFromJson({ profiles: { delay: 40 } }))
      )
      expect((yield* read.metrics).delayMillis).toBe(40)
    }))
})

describe("LatencySample", () => {
  it("keeps the newest durations and reads nearest-rank percentiles", () => {
    const sample = new LatencySample(4)
    expect(sample.percentile(50)).toBeUndefined()
    for (const millis of [40, 10, 30, 20]) sample.add(millis)
    expect(sample.percentile(50)).toBe(20)
    expect(sample.percentile(99)).toBe(40)
    sample.add(100) // replaces 40
    expect(sample.percentile(99)).toBe(100)
    expect(sample.count).toBe(4)
  })
})
