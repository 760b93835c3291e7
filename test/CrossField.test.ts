import { itScoped, TestClock } from "#test-port"
/**
 * Rules between option fields: each is either rejected (with the field that has to change named) or
 * accepted with a documented meaning, checked here.
 */
import { describe, expect } from "@effect/vitest"
import { Effect, Exit, Schedule } from "effect"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as RateLimiter from "../src/guards/RateLimiter.js"
import * as Retry from "../src/guards/Retry.js"

const fields = <A, E extends { readonly issues: ReadonlyArray<{ readonly field: string }> }, R>(
  self: Effect.Effect<A, E, R>
) => Effect.map(Effect.flip(self), (e) => e.issues.map((i) => i.field))

describe("cross-field rules", () => {
  itScoped("Retry: a wait and a schedule together are rejected, naming schedule", () =>
    Effect.gen(function*() {
      expect(yield* fields(Retry.make({ name: "r", waitDuration: 10, schedule: Schedule.spaced(10) }))).toEqual([
        "schedule"
      ])
    }))

  itScoped(
    "RateLimiter: capacity or a Schedule period outside the algorithms that use them are rejected",
    () =>
      Effect.gen(function*() {
        expect(yield* fields(RateLimiter.make({ name: "l", capacity: 5 }))).toEqual(["capacity"])
        expect(
          yield* fields(
            RateLimiter.make({ name: "l", algorithm: "sliding-window", limitRefreshPeriod: Schedule.spaced(5) })
          )
        ).toEqual(["limitRefreshPeriod"])
      })
  )

  itScoped(
    "CircuitBreaker: minimumNumberOfCalls above a count window's size is capped at the size (Resilience4j)",
    () =>
      Effect.gen(function*() {
        // Accepted, as Resilience4j does: the window can never hold more calls than its size, so a
        // larger minimum would mean "never open"; the minimum is the size instead.
        const breaker = yield* CircuitBreaker.make({ name: "b", slidingWindowSize: 5, minimumNumberOfCalls: 100 })
        for (let i = 0; i < 4; i++) yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.fail("x"), breaker))
        expect(yield* breaker.state).toBe("Closed")
        expect((yield* breaker.metrics).failureRate).toBe(-1)
        yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.fail("x"), breaker))
        expect(yield* breaker.state).toBe("Open")
      })
  )

  itScoped(
    "CircuitBreaker: in a time window the minimum is not capped (the window holds any number of calls)",
    () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "b",
          slidingWindowType: "TIME_BASED",
          slidingWindowSize: 5,
          minimumNumberOfCalls: 8
        })
        for (let i = 0; i < 7; i++) yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.fail("x"), breaker))
        expect(yield* breaker.state).toBe("Closed")
        yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.fail("x"), breaker))
        expect(yield* breaker.state).toBe("Open")
      })
  )

  itScoped(
    "CircuitBreaker: half-open permits above the window size are accepted; the half-open window is their own",
    () =>
      Effect.gen(function*() {
        // Resilience4j measures the trial calls in a window of permittedNumberOfCallsInHalfOpenState
        // calls, not in the closed window, so the two sizes are independent.
        const breaker = yield* CircuitBreaker.make({
          name: "b",
          slidingWindowSize: 2,
          minimumNumberOfCalls: 5, // capped at 2 while Closed; min(5, 5) trials decide in HalfOpen
          permittedNumberOfCallsInHalfOpenState: 5,
          waitDurationInOpenState: "1 second"
        })
        yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.fail("x"), breaker))
        yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.fail("x"), breaker))
        expect(yield* breaker.state).toBe("Open")
        yield* TestClock.adjust("1 second")
        for (let i = 0; i < 4; i++) yield* CircuitBreaker.withCircuitBreaker(Effect.void, breaker)
        expect(yield* breaker.state).toBe("HalfOpen")
        const fifth = yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.void, breaker))
        expect(Exit.isSuccess(fifth)).toBe(true)
        expect(yield* breaker.state).toBe("Closed")
      })
  )
})
