/**
 * The Open wait's two refinements from Effect 4's `effect/persistence` CircuitBreaker: a failure's
 * Retry-After hint lengthening the Open period (capped), and the count of consecutive openings that
 * survives a close until the breaker has stayed Closed as long as it was last Open. Expected values are
 * Effect 4's (`make`'s `openDuration`/`maxOpenDuration` docs and its memory store's `resetAt` rule).
 */
import { describe, expect, it } from "@effect/vitest"
import { Data, Duration, Effect, Exit, Option, Schedule } from "effect"
// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the ports.
import { failureOf } from "#port"
import { itScoped, TestClock } from "#test-port"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"

class Unavailable extends Data.TaggedError("Unavailable")<{ readonly retryAfterSeconds?: number | undefined }> {}

/** One call decides: a 1-call window, one half-open trial. */
const tiny = {
  name: "upstream",
  slidingWindowSize: 1,
  minimumNumberOfCalls: 1,
  permittedNumberOfCallsInHalfOpenState: 1
} as const

const fail = (breaker: CircuitBreaker.CircuitBreaker<Unavailable, string>, retryAfterSeconds?: number) =>
  Effect.exit(Effect.fail(new Unavailable({ retryAfterSeconds })).pipe(CircuitBreaker.withCircuitBreaker(breaker)))

const succeed = (breaker: CircuitBreaker.CircuitBreaker<Unavailable, string>) =>
  Effect.exit(Effect.succeed("ok").pipe(CircuitBreaker.withCircuitBreaker(breaker)))

/** The wait a refused call is told, in milliseconds (-1 when the call was not refused). */
const refusedWait = (breaker: CircuitBreaker.CircuitBreaker<Unavailable, string>) =>
  Effect.map(succeed(breaker), (exit) => {
    const error = Exit.isFailure(exit) ? Option.getOrUndefined(failureOf(exit.cause)) : undefined
    return error?._tag === "CallNotPermittedError"
      ? Option.getOrElse(Option.map(error.retryAfter, Duration.toMillis), () => -2)
      : -1
  })

const hintOf = (failure: Unavailable | string) =>
  typeof failure !== "string" && failure.retryAfterSeconds !== undefined
    ? Option.some(Duration.seconds(failure.retryAfterSeconds))
    : Option.none()

describe("Retry-After hints lengthen the Open period (Effect 4: max(wait, min(hint, maxOpenDuration)))", () => {
  itScoped(
    "a hint longer than the wait is taken; a shorter one changes nothing; a huge one is capped",
    () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make<Unavailable, string>({
          ...tiny,
          waitDurationInOpenState: "10 seconds",
          retryAfter: hintOf,
          maxRetryAfter: "1 minute"
        })
        yield* fail(breaker, 30)
        expect(yield* refusedWait(breaker)).toBe(30_000)
        const error = yield* Effect.flip(Effect.succeed("x").pipe(CircuitBreaker.withCircuitBreaker(breaker)))
        expect(error.message).toContain("30s")
        yield* TestClock.adjust("29999 millis")
        expect(yield* refusedWait(breaker)).toBe(1)
        yield* TestClock.adjust("1 millis")
        // The trial fails with a shorter hint: the configured 10 s wins.
        yield* fail(breaker, 2)
        expect(yield* refusedWait(breaker)).toBe(10_000)
        yield* TestClock.adjust("10 seconds")
        // A hostile hint (a day) is capped at maxRetryAfter.
        yield* fail(breaker, 86_400)
        expect(yield* refusedWait(breaker)).toBe(60_000)
        yield* TestClock.adjust("60 seconds")
        expect(yield* succeed(breaker)).toEqual(Exit.succeed("ok"))
        expect(yield* breaker.state).toBe("Closed")
      })
  )

  itScoped(
    "the default cap is Effect 4's one hour; broken hints (negative, NaN) are ignored",
    () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make<Unavailable, string>({
          ...tiny,
          waitDurationInOpenState: "5 seconds",
          retryAfter: hintOf
        })
        yield* fail(breaker, 7_200)
        expect(yield* refusedWait(breaker)).toBe(3_600_000)
        yield* TestClock.adjust("1 hour")
        yield* fail(breaker, -5)
        expect(yield* refusedWait(breaker)).toBe(5_000)
        yield* TestClock.adjust("5 seconds")
        const nan = yield* CircuitBreaker.make<Unavailable, string>({
          ...tiny,
          name: "nan",
          waitDurationInOpenState: "5 seconds",
          retryAfter: () => Option.some(Number.NaN)
        })
        yield* fail(nan)
        expect(yield* refusedWait(nan)).toBe(5_000)
      })
  )

  itScoped(
    "a value recordResult counts as a failure carries its hint too (an HTTP 429 response)",
    () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make<never, { status: number; retryAfter: number }>({
          ...tiny,
          name: "http",
          waitDurationInOpenState: "1 second",
          recordResult: (response) => response.status === 429,
          retryAfter: (failure) => Option.some(Duration.seconds(failure.retryAfter))
        })
        yield* Effect.succeed({ status: 429, retryAfter: 20 }).pipe(CircuitBreaker.withCircuitBreaker(breaker))
        const error = yield* Effect.flip(
          Effect.succeed({ status: 200, retryAfter: 0 }).pipe(CircuitBreaker.withCircuitBreaker(breaker))
        )
        expect(Option.map(error.retryAfter, Duration.toMillis)).toEqual(Option.some(20_000))
      })
  )

  itScoped("with a Schedule wait: the longer of the schedule's step and the hint", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make<Unavailable, string>({
        ...tiny,
        waitDurationInOpenState: Schedule.exponential("1 second"),
        retryAfter: hintOf
      })
      yield* fail(breaker, 3)
      expect(yield* refusedWait(breaker)).toBe(3_000)
      yield* TestClock.adjust("3 seconds")
      yield* fail(breaker) // second opening: 2 s, no hint
      expect(yield* refusedWait(breaker)).toBe(2_000)
    }))

  it.effect("bad options fail with InvalidConfigError naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(CircuitBreaker.make({ name: "x", maxRetryAfter: "-1 seconds", retryAfter: 3 as never }))
      )
      expect(error._tag).toBe("InvalidConfigError")
      expect(error.issues.map((issue) => issue.field).sort()).toEqual(["maxRetryAfter", "retryAfter"])
      const infinite = yield* Effect.flip(
        Effect.scoped(CircuitBreaker.make({ name: "x", maxRetryAfter: Duration.infinity }))
      )
      expect(infinite.issues[0]?.field).toBe("maxRetryAfter")
      const reset = yield* Effect.flip(
        Effect.scoped(CircuitBreaker.make({ name: "x", backoffReset: "never" as never }))
      )
      expect(reset.issues[0]?.field).toBe("backoffReset")
    }))
})

describe("backoffReset: the count of consecutive openings", () => {
  const flapping = (backoffReset?: CircuitBreaker.Options["backoffReset"]) =>
    CircuitBreaker.make<Unavailable, string>({
      ...tiny,
      waitDurationInOpenState: Schedule.exponential("1 second"),
      ...(backoffReset === undefined ? {} : { backoffReset })
    })

  itScoped(
    "Effect 4's rule: survives a close until Closed as long as the last opening (1 s, 2 s, 4 s, then 1 s)",
    () =>
      Effect.gen(function*() {
        const breaker = yield* flapping("after-closed-as-long-as-open")
        yield* fail(breaker)
        expect(yield* refusedWait(breaker)).toBe(1_000)
        yield* TestClock.adjust("1 second")
        yield* succeed(breaker) // closes at t=1 s; the count resets at t=2 s
        expect(yield* breaker.state).toBe("Closed")
        yield* TestClock.adjust("999 millis")
        yield* fail(breaker) // t=1.999 s: still counts, second opening
        expect(yield* refusedWait(breaker)).toBe(2_000)
        yield* TestClock.adjust("2 seconds")
        yield* succeed(breaker) // closes at t=3.999 s; resets at t=5.999 s
        yield* TestClock.adjust("1 second")
        yield* fail(breaker) // third opening
        expect(yield* refusedWait(breaker)).toBe(4_000)
        yield* TestClock.adjust("4 seconds")
        yield* succeed(breaker) // closes at t=8.999 s; resets at t=12.999 s
        yield* TestClock.adjust("4 seconds")
        yield* fail(breaker) // exactly as long as the last opening: back to the first delay
        expect(yield* refusedWait(breaker)).toBe(1_000)
        expect((yield* breaker.metrics).consecutiveOpenings).toBe(1)
      })
  )

  itScoped(
    "a Retry-After hint counts in the last opening's length (Effect 4: `Retry-After hint included`)",
    () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make<Unavailable, string>({
          ...tiny,
          waitDurationInOpenState: Schedule.exponential("1 second"),
          backoffReset: "after-closed-as-long-as-open",
          retryAfter: hintOf
        })
        yield* fail(breaker, 10)
        expect(yield* refusedWait(breaker)).toBe(10_000)
        yield* TestClock.adjust("10 seconds")
        yield* succeed(breaker)
        yield* TestClock.adjust("9 seconds")
        yield* fail(breaker)
        expect(yield* refusedWait(breaker)).toBe(2_000) // within 10 s of the close: second opening
      })
  )

  itScoped("default (Resilience4j): every close resets the count", () =>
    Effect.gen(function*() {
      const breaker = yield* flapping()
      yield* fail(breaker)
      yield* TestClock.adjust("1 second")
      yield* succeed(breaker)
      yield* fail(breaker)
      expect(yield* refusedWait(breaker)).toBe(1_000)
      expect((yield* breaker.metrics).consecutiveOpenings).toBe(1)
    }))

  itScoped(
    "a fixed wait is unchanged; Disabled and reset start again from 0 under either rule",
    () =>
      Effect.gen(function*() {
        const breaker = yield* flapping("after-closed-as-long-as-open")
        yield* fail(breaker)
        yield* TestClock.adjust("1 second")
        yield* succeed(breaker)
        yield* breaker.transitionToDisabled
        yield* breaker.transitionToClosed
        yield* fail(breaker)
        expect(yield* refusedWait(breaker)).toBe(1_000)
        yield* breaker.reset
        yield* fail(breaker)
        expect(yield* refusedWait(breaker)).toBe(1_000)
        const fixed = yield* CircuitBreaker.make<Unavailable, string>({
          ...tiny,
          name: "fixed",
          waitDurationInOpenState: "3 seconds",
          backoffReset: "after-closed-as-long-as-open"
        })
        yield* fail(fixed)
        yield* TestClock.adjust("3 seconds")
        yield* succeed(fixed)
        yield* fail(fixed)
        expect(yield* refusedWait(fixed)).toBe(3_000)
        expect((yield* fixed.metrics).consecutiveOpenings).toBe(2)
      })
  )
})
