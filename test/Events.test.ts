import { forkChild } from "#port"
import { itScoped, TestClock, yieldNow } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as RateLimiter from "../src/guards/RateLimiter.js"
import * as Events from "../src/observability/Events.js"
import * as Registry from "../src/registry/Registry.js"

const settle = Effect.gen(function*() {
  for (let i = 0; i <= 20; i++) yield* yieldNow
})

describe("Events", () => {
  itScoped(
    "merges every guard's events, guards created later included, with kind, name and Clock time",
    () =>
      Effect.gen(function*() {
        const registry = yield* Registry.make()
        const breaker = yield* registry.circuitBreaker("payments")
        const fiber = yield* Events.stream(registry).pipe(Stream.take(4), Stream.runCollect, forkChild)
        yield* settle
        yield* TestClock.adjust("5 seconds")
        yield* CircuitBreaker.withCircuitBreaker(Effect.void, breaker)
        const limiter = yield* registry.rateLimiter("partner", { limitForPeriod: 1, timeoutDuration: 0 })
        yield* settle
        yield* Effect.exit(RateLimiter.withRateLimiter(Effect.void, limiter))
        yield* Effect.exit(RateLimiter.withRateLimiter(Effect.void, limiter))
        yield* breaker.transitionToOpen
        const events = Array.from(yield* Fiber.join(fiber))
        expect(events.map((e) => [e.kind, e.name, e.event._tag, e.at])).toEqual([
          ["CircuitBreaker", "payments", "Success", 5000],
          ["RateLimiter", "partner", "SuccessfulAcquire", 5000],
          ["RateLimiter", "partner", "FailedAcquire", 5000],
          ["CircuitBreaker", "payments", "StateTransition", 5000]
        ])
      })
  )

  itScoped("calls: false leaves per-call events out and does not make guards build them", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.make()
      const breaker = yield* registry.circuitBreaker("payments")
      const fiber = yield* Events.stream(registry, { calls: false }).pipe(
        Stream.take(2),
        Stream.runCollect,
        forkChild
      )
      yield* settle
      // No full subscriber: the breaker's per-call events are not even built.
      const hub = (breaker as unknown as { hub: { subscribers: number; rareSubscribers: number } }).hub
      expect(hub.subscribers).toBe(0)
      expect(hub.rareSubscribers).toBe(1)
      yield* CircuitBreaker.withCircuitBreaker(Effect.void, breaker)
      yield* breaker.transitionToOpen
      yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.void, breaker))
      const events = Array.from(yield* Fiber.join(fiber))
      expect(events.map((e) => e.event._tag)).toEqual(["StateTransition", "CallNotPermitted"])
      expect(events.every((e) => !Events.isPerCall(e))).toBe(true)
    }))

  itScoped("a recorder keeps the last `size` rare events per guard for late readers", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.make()
      const breaker = yield* registry.circuitBreaker("payments", { waitDurationInOpenState: "1 second" })
      const recorder = yield* Events.record(registry, { size: 3 })
      for (let i = 0; i < 5; i++) yield* CircuitBreaker.withCircuitBreaker(Effect.void, breaker)
      yield* breaker.transitionToOpen
      yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.void, breaker))
      yield* TestClock.adjust("2 seconds")
      yield* breaker.transitionToHalfOpen
      yield* breaker.reset
      yield* settle
      const recent = yield* recorder.recent("CircuitBreaker", "payments")
      // Five successes were never recorded; of the five rare events, the two oldest slid out.
      expect(recent.map((e) => e.event._tag)).toEqual(["StateTransition", "StateTransition", "Reset"])
      expect(recent.map((e) => e.at)).toEqual([2000, 2000, 2000])
      const limiter = yield* registry.rateLimiter("late", { limitForPeriod: 1, timeoutDuration: 0 })
      yield* settle
      yield* Effect.exit(RateLimiter.withRateLimiter(Effect.void, limiter))
      yield* Effect.exit(RateLimiter.withRateLimiter(Effect.void, limiter))
      yield* settle
      expect((yield* recorder.recent("RateLimiter", "late")).map((e) => e.event._tag)).toEqual(["FailedAcquire"])
      expect((yield* recorder.all).length).toBe(4)
      expect(yield* recorder.recent("Bulkhead", "none")).toEqual([])
    }))

  it.effect("the stream ends with the registry", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.scoped(Effect.gen(function*() {
        const registry = yield* Registry.make()
        yield* registry.circuitBreaker("payments")
        const fiber = yield* Events.stream(registry).pipe(Stream.runCollect, forkChild)
        yield* settle
        return fiber
      }))
      expect(Array.from(yield* Fiber.join(fiber)).length).toBe(0)
    }))
})
