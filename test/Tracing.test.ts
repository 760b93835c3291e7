import { forkChild } from "#port"
import { itScoped, recordingTracer, TestClock, yieldNow } from "#test-port"
import { describe, expect } from "@effect/vitest"
import { Effect, Exit, Fiber, Option } from "effect"
import * as Bulkhead from "../src/guards/Bulkhead.js"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as RateLimiter from "../src/guards/RateLimiter.js"
import * as Retry from "../src/guards/Retry.js"
import * as TimeLimiter from "../src/guards/TimeLimiter.js"

describe("Tracing", () => {
  itScoped(
    "a closed breaker annotates the caller's span; an open one adds a refusal event",
    () =>
      Effect.gen(function*() {
        const { spans, tracer } = recordingTracer()
        const breaker = yield* CircuitBreaker.make({ name: "payments", waitDurationInOpenState: "30 seconds" })
        yield* CircuitBreaker.withCircuitBreaker(Effect.succeed(1), breaker).pipe(
          Effect.withSpan("charge"),
          Effect.withTracer(tracer)
        )
        expect(spans[0]!.attributes.get("breakwater.circuitbreaker.name")).toBe("payments")
        expect(spans[0]!.attributes.get("breakwater.circuitbreaker.state")).toBe("Closed")
        expect(spans[0]!.attributes.get("breakwater.circuitbreaker.decision")).toBe("permitted")
        expect(spans[0]!.events).toEqual([])

        yield* breaker.transitionToOpen
        yield* TestClock.adjust("10 seconds")
        const exit = yield* CircuitBreaker.withCircuitBreaker(Effect.succeed(1), breaker).pipe(
          Effect.withSpan("charge again"),
          Effect.withTracer(tracer),
          Effect.exit
        )
        expect(Exit.isFailure(exit)).toBe(true)
        const refused = spans[1]!
        expect(refused.attributes.get("breakwater.circuitbreaker.state")).toBe("Open")
        expect(refused.attributes.get("breakwater.circuitbreaker.decision")).toBe("refused")
        expect(refused.events.map(([name]) => name)).toEqual(["breakwater.circuitbreaker.call_not_permitted"])
        expect(refused.events[0]![1]).toBe(10_000n * 1_000_000n)
        expect(refused.events[0]![2]).toMatchObject({ "breakwater.retry_after_ms": 20_000 })
      })
  )

  itScoped("a rate limiter records permits, decision and wait; a refusal is an event", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const limiter = yield* RateLimiter.make({
        name: "partner",
        limitForPeriod: 1,
        limitRefreshPeriod: "1 second",
        timeoutDuration: "500 millis"
      })
      const traced = <A, E>(name: string, self: Effect.Effect<A, E>) =>
        self.pipe(Effect.withSpan(name), Effect.withTracer(tracer), Effect.exit)
      yield* traced("first", RateLimiter.withRateLimiter(Effect.void, limiter))
      yield* traced("second", RateLimiter.withRateLimiter(Effect.void, limiter))
      expect(spans[0]!.attributes.get("breakwater.ratelimiter.decision")).toBe("permitted")
      expect(spans[0]!.attributes.get("breakwater.ratelimiter.permits")).toBe(1)
      expect(spans[1]!.attributes.get("breakwater.ratelimiter.decision")).toBe("refused")
      expect(spans[1]!.attributes.get("breakwater.ratelimiter.wait_ms")).toBe(1000)
      expect(spans[1]!.events.map(([name]) => name)).toEqual(["breakwater.ratelimiter.request_not_permitted"])
      // Within the timeout: the caller waits, and the span says for how long.
      yield* TestClock.adjust("600 millis")
      const fiber = yield* forkChild(traced("third", RateLimiter.withRateLimiter(Effect.void, limiter)))
      yield* TestClock.adjust("400 millis")
      yield* Fiber.await(fiber)
      expect(spans[2]!.attributes.get("breakwater.ratelimiter.decision")).toBe("waiting")
      expect(spans[2]!.attributes.get("breakwater.ratelimiter.wait_ms")).toBe(400)
    }))

  itScoped(
    "retries number their attempts and show each retry; bulkheads and time limiters annotate too",
    () =>
      Effect.gen(function*() {
        const { spans, tracer } = recordingTracer()
        const retry = yield* Retry.make({ name: "flaky", maxAttempts: 3, waitDuration: "100 millis" })
        const bulkhead = yield* Bulkhead.make({ name: "pool", maxConcurrentCalls: 1 })
        const limiter = yield* TimeLimiter.make({ name: "slow", timeoutDuration: "1 second" })
        const fiber = yield* forkChild(
          Retry.withRetry(Effect.fail("boom"), retry).pipe(Effect.withSpan("retried"), Effect.withTracer(tracer))
        )
        yield* TestClock.adjust("1 second")
        yield* Fiber.await(fiber)
        const retried = spans[0]!
        expect(retried.attributes.get("breakwater.retry.attempt")).toBe(3)
        expect(retried.events.map(([name, , attrs]) => [name, attrs["breakwater.retry.attempt"]])).toEqual([
          ["breakwater.retry.retry", 2],
          ["breakwater.retry.retry", 3]
        ])

        // A full bulkhead refuses, visibly.
        const holder = yield* forkChild(Bulkhead.withBulkhead(Effect.never, bulkhead))
        yield* yieldNow
        yield* Bulkhead.withBulkhead(Effect.void, bulkhead).pipe(
          Effect.withSpan("shed"),
          Effect.withTracer(tracer),
          Effect.exit
        )
        expect(spans[1]!.attributes.get("breakwater.bulkhead.decision")).toBe("refused")
        expect(spans[1]!.events.map(([name]) => name)).toEqual(["breakwater.bulkhead.full"])
        yield* Fiber.interrupt(holder)

        const timed = yield* forkChild(
          TimeLimiter.withTimeLimiter(Effect.never, limiter).pipe(Effect.withSpan("timed"), Effect.withTracer(tracer))
        )
        yield* TestClock.adjust("1 second")
        yield* Fiber.await(timed)
        expect(spans[2]!.attributes.get("breakwater.timelimiter.timeout_ms")).toBe(1000)
        expect(spans[2]!.events.map(([name]) => name)).toEqual(["breakwater.timelimiter.timeout"])
      })
  )

  itScoped("without a span, nothing is annotated and nothing fails", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "quiet" })
      expect(Option.isNone(yield* Effect.option(Effect.currentSpan))).toBe(true)
      expect(yield* CircuitBreaker.withCircuitBreaker(Effect.succeed(7), breaker)).toBe(7)
    }))
})
