import { defectOf, failureOf as firstFailure, forkChild, isInterruptOnly, scheduleUnion, Service } from "#port"
import { configFromJson, FastCheck, itEffectProp, itScoped, TestClock, withConfig, yieldNow } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Data, Duration, Effect, Exit, Fiber, Option, Schedule, Stream } from "effect"
import type { InvalidConfigError } from "../src/errors/InvalidConfigError.js"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as Retry from "../src/guards/Retry.js"
import * as RetryBudget from "../src/guards/RetryBudget.js"

// ---- helpers -------------------------------------------------------------------------------------

class Boom extends Data.TaggedError("Boom")<{ readonly n: number }> {}
class Fatal extends Data.TaggedError("Fatal")<{ readonly reason: string }> {}

/**
 * A dependency that plays `script` (one entry per attempt, the last one repeating) and records the
 * `Clock` time of every attempt.
 */
const scripted = <A>(script: ReadonlyArray<"fail" | "fatal" | { readonly value: A }>) => {
  const times: Array<number> = []
  const call = Effect.suspend((): Effect.Effect<A, Boom | Fatal> => {
    const n = times.length
    const step = script[Math.min(n, script.length - 1)]!
    return Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<A, Boom | Fatal> => {
      times.push(now)
      if (step === "fail") return Effect.fail(new Boom({ n }))
      if (step === "fatal") return Effect.fail(new Fatal({ reason: "fatal" }))
      return Effect.succeed(step.value)
    })
  })
  return { call, times }
}

/** Runs `self` in a fiber, lets `TestClock` run for `millis`, and returns its Exit. */
const runFor = <A, E>(self: Effect.Effect<A, E>, millis: number) =>
  Effect.gen(function*() {
    const fiber = yield* forkChild(self)
    yield* TestClock.adjust(Duration.millis(millis))
    return yield* Fiber.await(fiber)
  })

const failureOf = <E>(exit: Exit.Exit<unknown, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  return Option.getOrThrow(firstFailure(exit.cause))
}

const issuesOf = (exit: Exit.Exit<unknown, InvalidConfigError>) => failureOf(exit).issues.map((issue) => issue.field)

/** Subscribes to `retry.events` and returns a way to read what has arrived. */
const recordEvents = (retry: Retry.Retry<any, any>) =>
  Effect.gen(function*() {
    const events: Array<Retry.Event> = []
    yield* retry.events.pipe(Stream.runForEach((e) => Effect.sync(() => events.push(e))), Effect.forkScoped)
    // Let the subscriber fiber start (and subscribe) before the calls begin.
    for (let i = 0; i < 5; i++) yield* yieldNow
    return events
  })

const noMetrics: Retry.Metrics = {
  numberOfSuccessfulCallsWithoutRetryAttempt: 0,
  numberOfSuccessfulCallsWithRetryAttempt: 0,
  numberOfFailedCallsWithoutRetryAttempt: 0,
  numberOfFailedCallsWithRetryAttempt: 0,
  numberOfRetriesRefusedByBudget: 0
}

// ---- attempts and delays -------------------------------------------------------------------------

describe("Retry: attempts and waits", () => {
  itScoped(
    "a first-attempt success is not retried and counts as successful_without_retry",
    () =>
      Effect.gen(function*() {
        const retry = yield* Retry.make({ name: "r" })
        const dependency = scripted([{ value: "ok" }])
        expect(yield* Retry.withRetry(dependency.call, retry)).toBe("ok")
        expect(dependency.times).toEqual([0])
        expect(yield* retry.metrics).toEqual({ ...noMetrics, numberOfSuccessfulCallsWithoutRetryAttempt: 1 })
      })
  )

  itScoped("defaults: 3 attempts in all, 500 ms apart, then the last error", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "r" })
      const dependency = scripted(["fail"])
      const exit = yield* runFor(dependency.call.pipe(Retry.withRetry(retry)), 10_000)
      expect(dependency.times).toEqual([0, 500, 1000])
      expect(failureOf(exit)).toEqual(new Boom({ n: 2 }))
      expect(yield* retry.metrics).toEqual({ ...noMetrics, numberOfFailedCallsWithRetryAttempt: 1 })
    }))

  itScoped("waitDuration and maxAttempts", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "r", maxAttempts: 5, waitDuration: "2 seconds" })
      const dependency = scripted(["fail", "fail", "fail", { value: 7 }])
      const fiber = yield* forkChild(Retry.withRetry(dependency.call, retry))
      yield* TestClock.adjust("1999 millis")
      expect(dependency.times).toEqual([0])
      yield* TestClock.adjust("1 millis")
      expect(dependency.times).toEqual([0, 2000])
      yield* TestClock.adjust("1 minute")
      expect(yield* Fiber.join(fiber)).toBe(7)
      expect(dependency.times).toEqual([0, 2000, 4000, 6000])
      expect(yield* retry.metrics).toEqual({ ...noMetrics, numberOfSuccessfulCallsWithRetryAttempt: 1 })
    }))

  itScoped("maxAttempts 1 never retries", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "r", maxAttempts: 1 })
      const dependency = scripted(["fail"])
      const exit = yield* Effect.exit(Retry.withRetry(dependency.call, retry))
      expect(dependency.times).toEqual([0])
      expect(failureOf(exit)).toEqual(new Boom({ n: 0 }))
      expect(yield* retry.metrics).toEqual({ ...noMetrics, numberOfFailedCallsWithoutRetryAttempt: 1 })
    }))

  itScoped("a zero wait retries at once", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "r", waitDuration: 0 })
      const dependency = scripted(["fail", "fail", { value: 1 }])
      expect(yield* Retry.withRetry(dependency.call, retry)).toBe(1)
      expect(dependency.times).toEqual([0, 0, 0])
    }))

  itScoped("schedule: exponential delays, exact under TestClock", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "r", maxAttempts: 5, schedule: Schedule.exponential("100 millis") })
      const dependency = scripted(["fail"])
      yield* runFor(Retry.withRetry(dependency.call, retry), 60_000)
      expect(dependency.times).toEqual([0, 100, 300, 700, 1500])
    }))

  itScoped("schedule: capped (the smaller of exponential and spaced)", () =>
    Effect.gen(function*() {
      const capped = scheduleUnion(Schedule.exponential("100 millis"), Schedule.spaced("250 millis"))
      const retry = yield* Retry.make({ name: "r", maxAttempts: 5, schedule: capped })
      const dependency = scripted(["fail"])
      yield* runFor(Retry.withRetry(dependency.call, retry), 60_000)
      expect(dependency.times).toEqual([0, 100, 300, 550, 800])
    }))

  itScoped("schedule: jittered delays stay within Effect's jitter bounds", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({
        name: "r",
        maxAttempts: 4,
        schedule: Schedule.spaced("1 second").pipe(Schedule.jittered)
      })
      const dependency = scripted(["fail"])
      yield* runFor(Retry.withRetry(dependency.call, retry), 60_000)
      expect(dependency.times).toHaveLength(4)
      for (let i = 1; i < 4; i++) {
        const delay = dependency.times[i]! - dependency.times[i - 1]!
        expect(delay).toBeGreaterThanOrEqual(800)
        expect(delay).toBeLessThanOrEqual(1200)
      }
    }))

  itScoped("schedule: an exhausted schedule ends retrying before maxAttempts", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "r", maxAttempts: 10, schedule: Schedule.recurs(2) })
      const dependency = scripted(["fail"])
      const exit = yield* runFor(Retry.withRetry(dependency.call, retry), 60_000)
      expect(dependency.times).toEqual([0, 0, 0])
      expect(failureOf(exit)).toEqual(new Boom({ n: 2 }))
      expect(yield* retry.metrics).toEqual({ ...noMetrics, numberOfFailedCallsWithRetryAttempt: 1 })
    }))

  itScoped("schedule: each call starts the schedule afresh", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "r", maxAttempts: 3, schedule: Schedule.exponential("1 second") })
      const first = scripted(["fail"])
      yield* runFor(Retry.withRetry(first.call, retry), 60_000)
      const second = scripted(["fail"])
      yield* runFor(Retry.withRetry(second.call, retry), 60_000)
      expect(second.times.map((t) => t - second.times[0]!)).toEqual([0, 1000, 3000])
    }))
})

// ---- what is retried -----------------------------------------------------------------------------

describe("Retry: what is retried", () => {
  itScoped("retryOn decides which typed errors are retried", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make<Boom | Fatal>({ name: "r", waitDuration: 0, retryOn: (e) => e._tag === "Boom" })
      const events = yield* recordEvents(retry)
      const dependency = scripted(["fail", "fatal"])
      const exit = yield* Effect.exit(Retry.withRetry(dependency.call, retry))
      expect(dependency.times).toHaveLength(2)
      expect(failureOf(exit)).toEqual(new Fatal({ reason: "fatal" }))
      const first = scripted(["fatal"])
      yield* Effect.exit(Retry.withRetry(first.call, retry))
      expect(first.times).toHaveLength(1)
      expect(yield* retry.metrics).toEqual({
        ...noMetrics,
        numberOfFailedCallsWithRetryAttempt: 1,
        numberOfFailedCallsWithoutRetryAttempt: 1
      })
      yield* yieldNow
      expect(events.map((e) => e._tag)).toEqual(["Retry", "IgnoredError", "IgnoredError"])
    }))

  itScoped("defects and interruptions are not retried", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "r", waitDuration: 0 })
      let runs = 0
      const defect = Effect.suspend(() => {
        runs++
        return Effect.die("bug")
      })
      const exit = yield* Effect.exit(Retry.withRetry(defect, retry))
      expect(Exit.isFailure(exit) && Option.isSome(defectOf(exit.cause))).toBe(true)
      expect(runs).toBe(1)
      const interrupted = Effect.suspend(() => {
        runs++
        return Effect.interrupt
      })
      const exit2 = yield* Effect.exit(Retry.withRetry(interrupted, retry))
      expect(Exit.isFailure(exit2) && isInterruptOnly(exit2.cause)).toBe(true)
      expect(runs).toBe(2)
      expect(yield* retry.metrics).toEqual({ ...noMetrics, numberOfFailedCallsWithoutRetryAttempt: 1 })
    }))

  itScoped("interrupting a waiting call stops it", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "r", waitDuration: "1 second" })
      const dependency = scripted(["fail"])
      const fiber = yield* forkChild(Retry.withRetry(dependency.call, retry))
      yield* TestClock.adjust("500 millis")
      yield* Fiber.interrupt(fiber)
      yield* TestClock.adjust("1 minute")
      expect(dependency.times).toEqual([0])
    }))

  itScoped("retryOnResult retries unwanted values and returns the first wanted one", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make<unknown, string>({ name: "r", waitDuration: 0, retryOnResult: (v) => v === "" })
      const dependency = scripted<string>([{ value: "" }, { value: "" }, { value: "body" }])
      expect(yield* Retry.withRetry(dependency.call, retry)).toBe("body")
      expect(dependency.times).toHaveLength(3)
      expect(yield* retry.metrics).toEqual({ ...noMetrics, numberOfSuccessfulCallsWithRetryAttempt: 1 })
    }))

  itScoped(
    "retryOnResult after the last attempt returns the last value (failAfterMaxAttempts false)",
    () =>
      Effect.gen(function*() {
        const retry = yield* Retry.make<unknown, string>({ name: "r", waitDuration: 0, retryOnResult: (v) => v === "" })
        const dependency = scripted<string>([{ value: "" }])
        expect(yield* Retry.withRetry(dependency.call, retry)).toBe("")
        expect(dependency.times).toHaveLength(3)
        // Resilience4j counts a call that ends on an unwanted value as failed after retrying.
        expect(yield* retry.metrics).toEqual({ ...noMetrics, numberOfFailedCallsWithRetryAttempt: 1 })
      })
  )

  itScoped(
    "retryOnResult after the last attempt fails with MaxRetriesExceededError (failAfterMaxAttempts true)",
    () =>
      Effect.gen(function*() {
        const retry = yield* Retry.make<unknown, string>({
          name: "r",
          waitDuration: 0,
          retryOnResult: (v) => v === "",
          failAfterMaxAttempts: true
        })
        const dependency = scripted<string>([{ value: "" }])
        const exit = yield* Effect.exit(Retry.withRetry(dependency.call, retry))
        const error = failureOf(exit)
        expect(error).toEqual(new Retry.MaxRetriesExceededError({ retryName: "r", attempts: 3, lastValue: "" }))
        expect(error._tag === "MaxRetriesExceededError" && error.message).toBe(
          "Retry 'r' has exhausted all attempts (3)"
        )
        expect(dependency.times).toHaveLength(3)
      })
  )
})

// ---- refusals from other guards ------------------------------------------------------------------

class RequestNotPermittedError extends Data.TaggedError("RequestNotPermittedError")<{
  readonly retryAfter: Option.Option<Duration.Duration>
}> {}
class BulkheadFullError extends Data.TaggedError("BulkheadFullError")<{
  readonly retryAfter: Option.Option<Duration.Duration>
}> {}

describe("Retry: rejections are not load", () => {
  itScoped("CallNotPermittedError is not retried by default", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "cb", waitDurationInOpenState: "10 seconds" })
      yield* breaker.transitionToOpen
      const retry = yield* Retry.make({ name: "r", waitDuration: 0 })
      let runs = 0
      const call = Effect.suspend(() => {
        runs++
        return Effect.succeed("ok")
      })
      let attempts = 0
      const guarded = Effect.suspend(() => {
        attempts++
        return CircuitBreaker.withCircuitBreaker(call, breaker)
      })
      const exit = yield* Effect.exit(Retry.withRetry(guarded, retry))
      expect(failureOf(exit)._tag).toBe("CallNotPermittedError")
      expect(attempts).toBe(1)
      expect(runs).toBe(0)
      expect(yield* retry.metrics).toEqual({ ...noMetrics, numberOfFailedCallsWithoutRetryAttempt: 1 })
    }))

  itScoped(
    "RequestNotPermittedError and BulkheadFullError are not retried by default, even if retryOn says so",
    () =>
      Effect.gen(function*() {
        const retry = yield* Retry.make({ name: "r", waitDuration: 0, retryOn: () => true })
        for (
          const refusal of [
            new RequestNotPermittedError({ retryAfter: Option.none() }),
            new BulkheadFullError({ retryAfter: Option.none() })
          ]
        ) {
          let attempts = 0
          const call = Effect.suspend(() => {
            attempts++
            return Effect.fail(refusal)
          })
          yield* Effect.exit(Retry.withRetry(call, retry))
          expect(attempts).toBe(1)
        }
      })
  )

  itScoped("opted in, a refused call is retried no sooner than the breaker's retryAfter", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "cb", waitDurationInOpenState: "10 seconds" })
      yield* breaker.transitionToOpen
      const retry = yield* Retry.make({ name: "r", waitDuration: "100 millis", retryRejections: true })
      const dependency = scripted([{ value: "ok" }])
      const times: Array<number> = []
      const guarded = Effect.flatMap(Clock.currentTimeMillis, (now) => {
        times.push(now)
        return CircuitBreaker.withCircuitBreaker(dependency.call, breaker)
      })
      const fiber = yield* forkChild(Retry.withRetry(guarded, retry))
      yield* TestClock.adjust("9999 millis")
      expect(times).toEqual([0])
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toBe("ok")
      expect(times).toEqual([0, 10_000])
      expect(dependency.times).toEqual([10_000])
    }))

  itScoped("an error that is not an object (null, a string) is retried like any other", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "r", maxAttempts: 3, waitDuration: 0 })
      let attempts = 0
      const call = Effect.suspend(() => {
        attempts++
        return Effect.fail(null)
      })
      expect(yield* Effect.exit(Retry.withRetry(call, retry))).toEqual(Exit.fail(null))
      expect(attempts).toBe(3)
    }))

  itScoped(
    "any typed error with a retryAfter hint (an HTTP 429, say) is retried no sooner than the hint",
    () =>
      Effect.gen(function*() {
        class TooManyRequests extends Data.TaggedError("TooManyRequests")<{
          readonly retryAfter: Option.Option<Duration.Duration>
        }> {}
        const retry = yield* Retry.make({ name: "r", maxAttempts: 2, waitDuration: "100 millis" })
        const times: Array<number> = []
        const call = Effect.flatMap(Clock.currentTimeMillis, (now) => {
          times.push(now)
          return times.length === 1
            ? Effect.fail(new TooManyRequests({ retryAfter: Option.some(Duration.seconds(2)) }))
            : Effect.succeed("ok")
        })
        const exit = yield* runFor(Retry.withRetry(call, retry), 2000)
        expect(exit).toEqual(Exit.succeed("ok"))
        expect(times).toEqual([0, 2000])
      })
  )

  itScoped("opted in, the wait is the larger of the schedule's delay and the hint", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "r", maxAttempts: 4, waitDuration: "3 seconds", retryRejections: true })
      const hints = [Option.some(Duration.seconds(1)), Option.some(Duration.seconds(5)), Option.none(), Option.none()]
      const times: Array<number> = []
      const call = Effect.flatMap(Clock.currentTimeMillis, (now) => {
        times.push(now)
        return Effect.fail(new RequestNotPermittedError({ retryAfter: hints[times.length - 1]! }))
      })
      yield* runFor(Retry.withRetry(call, retry), 60_000)
      expect(times).toEqual([0, 3000, 8000, 11_000])
    }))

  itScoped("opted in, retryOn still applies to refusals", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make<RequestNotPermittedError | BulkheadFullError>({
        name: "r",
        waitDuration: 0,
        retryRejections: true,
        retryOn: (e) => e._tag === "BulkheadFullError"
      })
      let attempts = 0
      const call = Effect.suspend(() => {
        attempts++
        return Effect.fail(new RequestNotPermittedError({ retryAfter: Option.none() }))
      })
      yield* Effect.exit(Retry.withRetry(call, retry))
      expect(attempts).toBe(1)
    }))
})

// ---- budgets -------------------------------------------------------------------------------------

describe("Retry: budget", () => {
  itScoped("a retry the budget refuses is not made: the last error at once, counted", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "b", minRetriesPerSecond: 0, percentCanRetry: 0 })
      const retry = yield* Retry.make({ name: "r", waitDuration: "1 second", budget })
      const events = yield* recordEvents(retry)
      const dependency = scripted(["fail"])
      // No fork, no clock adjustment: the call must end without sleeping.
      const exit = yield* Effect.exit(Retry.withRetry(dependency.call, retry))
      expect(failureOf(exit)).toEqual(new Boom({ n: 0 }))
      expect(dependency.times).toEqual([0])
      expect(yield* retry.metrics).toEqual({
        ...noMetrics,
        numberOfFailedCallsWithoutRetryAttempt: 1,
        numberOfRetriesRefusedByBudget: 1
      })
      expect(yield* budget.metrics).toMatchObject({ totalDeposits: 1, totalWithdrawals: 0, refusals: 1 })
      yield* yieldNow
      expect(events).toEqual([
        Retry.Event.BudgetExhausted({ retryName: "r", at: 0, attempts: 1, budgetName: "b", error: new Boom({ n: 0 }) })
      ])
    }))

  itScoped("a budget shared by two retries: each call deposits, each retry withdraws", () =>
    Effect.gen(function*() {
      // Reserve of one retry per ttl, plus one retry per two requests.
      const budget = yield* RetryBudget.make({ name: "b", minRetriesPerSecond: 0.1, percentCanRetry: 0.5 })
      const a = yield* Retry.make({ name: "a", waitDuration: 0, budget })
      const b = yield* Retry.make({ name: "b", waitDuration: 0, budget })
      const first = scripted(["fail"])
      yield* Effect.exit(Retry.withRetry(first.call, a)) // deposit 1: 1.5 allowed, retries once, refused once
      expect(first.times).toHaveLength(2)
      const second = scripted(["fail"])
      yield* Effect.exit(Retry.withRetry(second.call, b)) // deposit 2: 2 allowed, 1 used: one more retry
      expect(second.times).toHaveLength(2)
      const third = scripted(["fail"])
      yield* Effect.exit(Retry.withRetry(third.call, a)) // deposit 3: 2.5 allowed, 2 used: none
      expect(third.times).toHaveLength(1)
      expect(yield* budget.metrics).toMatchObject({ totalDeposits: 3, totalWithdrawals: 2, refusals: 3 })
      expect((yield* a.metrics).numberOfRetriesRefusedByBudget).toBe(2)
      expect((yield* b.metrics).numberOfRetriesRefusedByBudget).toBe(1)
    }))

  itScoped("result retries withdraw too; refused, the last value comes back", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ name: "b", minRetriesPerSecond: 0, percentCanRetry: 0 })
      const retry = yield* Retry.make<unknown, number>({ name: "r", budget, retryOnResult: (n) => n < 0 })
      const dependency = scripted([{ value: -1 }])
      expect(yield* Retry.withRetry(dependency.call, retry)).toBe(-1)
      expect((yield* retry.metrics).numberOfRetriesRefusedByBudget).toBe(1)
    }))

  itEffectProp(
    "property: budgeted retries never exceed the budget's bound over any ttl window",
    {
      gaps: FastCheck.array(FastCheck.integer({ min: 0, max: 700 }), { minLength: 1, maxLength: 120 }),
      minRetriesPerSecond: FastCheck.constantFrom(0, 0.5, 1),
      percentCanRetry: FastCheck.constantFrom(0, 0.1, 0.25, 0.5)
    },
    ({ gaps, minRetriesPerSecond, percentCanRetry }) =>
      Effect.scoped(Effect.gen(function*() {
        const ttlMillis = 2000
        const slice = ttlMillis / 10
        const budget = yield* RetryBudget.make({ name: "b", ttl: ttlMillis, minRetriesPerSecond, percentCanRetry })
        const retry = yield* Retry.make({ name: "r", maxAttempts: 4, waitDuration: 0, budget })
        const requests: Array<number> = []
        const retries: Array<number> = []
        let attempt = 0
        const call = Effect.flatMap(Clock.currentTimeMillis, (now) => {
          ;(attempt++ === 0 ? requests : retries).push(Math.floor(now / slice))
          return Effect.fail("down")
        })
        for (const gap of gaps) {
          yield* TestClock.adjust(gap)
          attempt = 0
          yield* Effect.exit(Retry.withRetry(call, retry))
        }
        const reserve = minRetriesPerSecond * ttlMillis / 1000
        const bound = (deposits: number) => Math.floor(reserve + percentCanRetry * deposits + 1e-9)
        const last = Math.max(...requests)
        for (let start = -10; start <= last; start++) {
          const inWindow = retries.filter((s) => s >= start && s < start + 10).length
          const funding = requests.filter((s) => s > start - 10 && s < start + 10).length
          expect(inWindow).toBeLessThanOrEqual(bound(funding))
        }
        // Within the first ttl nothing has expired: the plain bound holds for the deposits so far.
        const firstTtl = retries.filter((s) => s < 10).length
        expect(firstTtl).toBeLessThanOrEqual(bound(requests.filter((s) => s < 10).length))
        expect(retries.length).toBe((yield* budget.metrics).totalWithdrawals)
      })),
    { fastCheck: { numRuns: 60 } }
  )
})

// ---- properties of attempts ----------------------------------------------------------------------

describe("Retry: attempts never exceed maxAttempts", () => {
  const outcomeArb = FastCheck.constantFrom("fail" as const, "fatal" as const, "good" as const, "unwanted" as const)

  itEffectProp(
    "property: attempts = the model's, never more than maxAttempts",
    {
      maxAttempts: FastCheck.integer({ min: 1, max: 8 }),
      script: FastCheck.array(outcomeArb, { minLength: 1, maxLength: 12 }),
      failAfterMaxAttempts: FastCheck.boolean()
    },
    ({ failAfterMaxAttempts, maxAttempts, script }) =>
      Effect.scoped(Effect.gen(function*() {
        const retry = yield* Retry.make<string, string>({
          name: "p",
          maxAttempts,
          waitDuration: 0,
          retryOn: (e) => e === "fail",
          retryOnResult: (v) => v === "unwanted",
          failAfterMaxAttempts
        })
        let attempts = 0
        const call = Effect.suspend(() => {
          const step = script[Math.min(attempts++, script.length - 1)]!
          return step === "fail" || step === "fatal" ? Effect.fail(step) : Effect.succeed(step)
        })
        const exit = yield* Effect.exit(Retry.withRetry(call, retry))
        // The model: attempts continue while the outcome is retryable and attempts remain.
        let expected = 0
        let outcome: string = ""
        do {
          outcome = script[Math.min(expected++, script.length - 1)]!
        } while ((outcome === "fail" || outcome === "unwanted") && expected < maxAttempts)
        expect(attempts).toBe(expected)
        expect(attempts).toBeLessThanOrEqual(maxAttempts)
        if (outcome === "unwanted" && failAfterMaxAttempts) {
          expect(failureOf(exit)).toEqual(
            new Retry.MaxRetriesExceededError({ retryName: "p", attempts: expected, lastValue: "unwanted" })
          )
        } else if (outcome === "fail" || outcome === "fatal") {
          expect(failureOf(exit)).toBe(outcome)
        } else {
          expect(exit).toEqual(Exit.succeed(outcome))
        }
        const m = yield* retry.metrics
        const total = m.numberOfSuccessfulCallsWithoutRetryAttempt + m.numberOfSuccessfulCallsWithRetryAttempt +
          m.numberOfFailedCallsWithoutRetryAttempt + m.numberOfFailedCallsWithRetryAttempt
        expect(total).toBe(1)
      })),
    { fastCheck: { numRuns: 200 } }
  )
})

// ---- metrics, events, configuration -------------------------------------------------------------

describe("Retry: metrics and events", () => {
  itScoped("the four kinds", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make<Boom | Fatal>({ name: "r", waitDuration: 0, retryOn: (e) => e._tag === "Boom" })
      yield* Effect.exit(Retry.withRetry(scripted([{ value: 1 }]).call, retry))
      yield* Effect.exit(Retry.withRetry(scripted(["fail", { value: 1 }]).call, retry))
      yield* Effect.exit(Retry.withRetry(scripted(["fail", { value: 1 }]).call, retry))
      yield* Effect.exit(Retry.withRetry(scripted(["fail"]).call, retry))
      yield* Effect.exit(Retry.withRetry(scripted(["fatal"]).call, retry))
      yield* Effect.exit(Retry.withRetry(scripted(["fatal"]).call, retry))
      yield* Effect.exit(Retry.withRetry(scripted(["fatal"]).call, retry))
      expect(yield* retry.metrics).toEqual({
        numberOfSuccessfulCallsWithoutRetryAttempt: 1,
        numberOfSuccessfulCallsWithRetryAttempt: 2,
        numberOfFailedCallsWithRetryAttempt: 1,
        numberOfFailedCallsWithoutRetryAttempt: 3,
        numberOfRetriesRefusedByBudget: 0
      })
    }))

  itScoped("events carry the name, the Clock time, the attempt and the wait", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_000)
      const retry = yield* Retry.make({ name: "r", waitDuration: "250 millis" })
      const events = yield* recordEvents(retry)
      yield* runFor(Retry.withRetry(scripted(["fail", { value: 1 }]).call, retry), 1_000)
      yield* runFor(Retry.withRetry(scripted(["fail"]).call, retry), 1_000)
      yield* yieldNow
      expect(events).toEqual([
        Retry.Event.Retry({
          retryName: "r",
          at: 1_000,
          attempt: 2,
          wait: Duration.millis(250),
          error: new Boom({ n: 0 })
        }),
        Retry.Event.Success({ retryName: "r", at: 1_250, attempts: 2 }),
        Retry.Event.Retry({
          retryName: "r",
          at: 2_000,
          attempt: 2,
          wait: Duration.millis(250),
          error: new Boom({ n: 0 })
        }),
        Retry.Event.Retry({
          retryName: "r",
          at: 2_250,
          attempt: 3,
          wait: Duration.millis(250),
          error: new Boom({ n: 1 })
        }),
        Retry.Event.Error({ retryName: "r", at: 2_500, attempts: 3, error: new Boom({ n: 2 }) })
      ])
    }))

  itScoped("no subscriber, no events: a later subscriber sees only what follows", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "r", waitDuration: 0 })
      yield* Retry.withRetry(Effect.succeed(1), retry)
      const events = yield* recordEvents(retry)
      yield* Retry.withRetry(Effect.succeed(2), retry)
      yield* yieldNow
      expect(events).toEqual([Retry.Event.Success({ retryName: "r", at: 0, attempts: 1 })])
    }))

  itScoped("events end with the retry's scope", () =>
    Effect.gen(function*() {
      const collected = yield* Effect.scoped(Effect.gen(function*() {
        const retry = yield* Retry.make({ name: "r" })
        return yield* forkChild(Stream.runCollect(retry.events))
      }))
      const result = yield* Fiber.await(collected)
      expect(Exit.isSuccess(result) ? Array.from(result.value).length : "interrupted").toSatisfy((r) =>
        r === 0 || r === "interrupted"
      )
    }))
})

describe("Retry: options, reconfiguration, layers", () => {
  it.effect("rejects bad options, naming each field", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Effect.scoped(
          Retry.make({
            name: "r",
            maxAttempts: 0,
            waitDuration: -5,
            retryOn: "yes" as unknown as () => boolean,
            budget: {} as RetryBudget.RetryBudget
          })
        )
      )
      expect(issuesOf(exit).sort()).toEqual(["budget", "maxAttempts", "retryOn", "waitDuration"])
      expect(failureOf(exit).message).toContain("maxAttempts = 0: must be a whole number >= 1")
      const both = yield* Effect.exit(
        Effect.scoped(Retry.make({ name: "r", waitDuration: "1 second", schedule: Schedule.spaced("1 second") }))
      )
      expect(issuesOf(both)).toEqual(["schedule"])
      expect(failureOf(both).message).toContain("cannot be combined with waitDuration")
      const unknown = yield* Effect.exit(Effect.scoped(Retry.make({ name: "r", retries: 3 } as Retry.Options)))
      expect(issuesOf(unknown)).toEqual(["retries"])
    }))

  itScoped("reconfigure changes options in place and keeps the counters", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "r", waitDuration: 0 })
      yield* Effect.exit(Retry.withRetry(scripted(["fail"]).call, retry))
      yield* Retry.reconfigure(retry, { maxAttempts: 5 })
      const five = scripted(["fail"])
      yield* Effect.exit(Retry.withRetry(five.call, retry))
      expect(five.times).toHaveLength(5)
      expect((yield* retry.metrics).numberOfFailedCallsWithRetryAttempt).toBe(2)

      // A schedule replaces the wait (no clash), and `undefined` restores a default.
      yield* Retry.reconfigure(retry, { schedule: Schedule.exponential("100 millis"), maxAttempts: undefined })
      const scheduled = scripted(["fail"])
      yield* runFor(Retry.withRetry(scheduled.call, retry), 60_000)
      expect(scheduled.times.map((t) => t - scheduled.times[0]!)).toEqual([0, 100, 300])

      // Bad changes are refused and change nothing.
      const bad = yield* Effect.exit(retry.reconfigure({ maxAttempts: -1 }))
      expect(issuesOf(bad)).toEqual(["maxAttempts"])
      const still = scripted(["fail"])
      yield* runFor(Retry.withRetry(still.call, retry), 60_000)
      expect(still.times).toHaveLength(3)
    }))

  itScoped("withRetry is dual and policy adds only MaxRetriesExceededError", () =>
    Effect.gen(function*() {
      const retry = yield* Retry.make({ name: "r", waitDuration: 0 })
      const call: Effect.Effect<number, Boom> = Effect.succeed(1)
      const piped: Effect.Effect<number, Boom | Retry.MaxRetriesExceededError> = call.pipe(Retry.withRetry(retry))
      const direct: Effect.Effect<number, Boom | Retry.MaxRetriesExceededError> = Retry.withRetry(call, retry)
      const viaPolicy: Effect.Effect<number, Boom | Retry.MaxRetriesExceededError> = Retry.policy(retry)(call)
      expect([yield* piped, yield* direct, yield* viaPolicy]).toEqual([1, 1, 1])
    }))

  class PaymentsRetry extends Service<PaymentsRetry, Retry.Retry>()("PaymentsRetry") {}

  it.effect("layer and layerConfig (values from Config, code adds the schedule)", () =>
    Effect.gen(function*() {
      const viaLayer = yield* Effect.scoped(
        Effect.gen(function*() {
          const retry = yield* Effect.provide(PaymentsRetry, Retry.layer(PaymentsRetry, { name: "payments" }))
          return retry.name
        })
      )
      expect(viaLayer).toBe("payments")

      const provider = configFromJson({ payments: { maxAttempts: 4, failAfterMaxAttempts: true } })
      const live = Retry.layerConfig(PaymentsRetry, Retry.config("payments"), { schedule: Schedule.spaced("1 second") })
      const dependency = scripted(["fail"])
      yield* Effect.gen(function*() {
        const retry = yield* PaymentsRetry
        yield* runFor(Retry.withRetry(dependency.call, retry), 60_000)
      }).pipe(Effect.provide(live), withConfig(provider))
      expect(dependency.times).toEqual([0, 1000, 2000, 3000])

      const bad = configFromJson({ payments: { waitDuration: "-1 seconds" } })
      const exit = yield* Effect.exit(
        Effect.provide(PaymentsRetry, Retry.layerConfig(PaymentsRetry, Retry.config("payments"))).pipe(
          withConfig(bad),
          Effect.catchTag("ConfigError", Effect.die)
        )
      )
      expect(issuesOf(exit)).toEqual(["waitDuration"])
    }))
})
