import { forkChild } from "#port"
import { itScoped, targetMajor, TestClock, yieldNow } from "#test-port"
/**
 * A guard's `events`/`stateChanges` subscribe only when the stream starts running: read in a forked
 * fiber, they may attach after the first event (`yieldNow` does not make it so). The scoped
 * `subscribe`/`subscribeStateChanges`/`Events.subscribe` are attached once they return.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import * as AdaptiveLimiter from "../src/guards/AdaptiveLimiter.js"
import * as AdaptiveThrottler from "../src/guards/AdaptiveThrottler.js"
import * as Bulkhead from "../src/guards/Bulkhead.js"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as Hedge from "../src/guards/Hedge.js"
import { hubOf } from "../src/guards/internal/guardInternals.js"
import * as RateLimiter from "../src/guards/RateLimiter.js"
import * as Retry from "../src/guards/Retry.js"
import * as TimeLimiter from "../src/guards/TimeLimiter.js"
import * as Events from "../src/observability/Events.js"
import * as Registry from "../src/registry/Registry.js"
import { memoryStore } from "./helpers/memoryStore.js"

const RUNS = 50

const MemoryStore = memoryStore("local-fallback")

/** The old way: fork a reader of `stateChanges`, yield, transition; what did the reader see? */
const oldWay = Effect.scoped(Effect.gen(function*() {
  const breaker = yield* CircuitBreaker.make({ name: "old" })
  const seen: Array<CircuitBreaker.State> = []
  const reader = yield* forkChild(Stream.runForEach(breaker.stateChanges, (s) => Effect.sync(() => seen.push(s))))
  yield* yieldNow
  yield* breaker.transitionToOpen
  for (let i = 0; i < 5; i++) yield* yieldNow
  yield* Fiber.interrupt(reader)
  return seen.join(",") === "Closed,Open"
}))

const newWay = Effect.scoped(Effect.gen(function*() {
  const breaker = yield* CircuitBreaker.make({ name: "new" })
  const changes = yield* breaker.subscribeStateChanges
  const reader = yield* forkChild(Stream.runCollect(Stream.take(changes, 2)))
  yield* breaker.transitionToOpen
  return Array.from(yield* Fiber.join(reader)).join(",") === "Closed,Open"
}))

describe("subscribing before acting", () => {
  it.effect(`stateChanges read in a forked fiber misses the first change; subscribeStateChanges never does (${RUNS} runs each)`, () =>
    Effect.gen(function*() {
      let oldMisses = 0
      let newMisses = 0
      for (let i = 0; i < RUNS; i++) {
        if (!(yield* oldWay)) oldMisses++
        if (!(yield* newWay)) newMisses++
      }
      // The race the issue reports, reproduced on Effect 3. Effect 4's scheduler runs the forked reader
      // at the first yield, so it subscribes before the transition there (0 misses in 50 runs); the
      // scoped subscription is what makes it certain on both.
      if (targetMajor === 3) expect(oldMisses).toBeGreaterThan(0)
      expect(newMisses).toBe(0)
    }))

  itScoped("every guard's subscribe is attached once it returns", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 20; i++) {
        const breaker = yield* CircuitBreaker.make({ name: "b" })
        const breakerEvents = yield* breaker.subscribe
        const b = yield* forkChild(Stream.runHead(breakerEvents))
        yield* breaker.transitionToForcedOpen
        expect((yield* Fiber.join(b)).pipe((o) => o._tag === "Some" && o.value._tag)).toBe("StateTransition")

        const limiter = yield* RateLimiter.make({ name: "r", limitForPeriod: 1, timeoutDuration: 0 })
        const limiterEvents = yield* limiter.subscribe
        const l = yield* forkChild(Stream.runHead(limiterEvents))
        yield* Effect.exit(RateLimiter.withRateLimiter(Effect.void, limiter))
        expect((yield* Fiber.join(l))._tag).toBe("Some")

        const bulkhead = yield* Bulkhead.make({ name: "h", maxConcurrentCalls: 1 })
        const bulkheadEvents = yield* bulkhead.subscribe
        const h = yield* forkChild(Stream.runHead(bulkheadEvents))
        yield* Bulkhead.withBulkhead(Effect.void, bulkhead)
        expect((yield* Fiber.join(h))._tag).toBe("Some")

        const timeLimiter = yield* TimeLimiter.make({ name: "t" })
        const timeEvents = yield* timeLimiter.subscribe
        const t = yield* forkChild(Stream.runHead(timeEvents))
        yield* TimeLimiter.withTimeLimiter(Effect.void, timeLimiter)
        expect((yield* Fiber.join(t))._tag).toBe("Some")

        const retry = yield* Retry.make({ name: "y" })
        const retryEvents = yield* retry.subscribe
        const y = yield* forkChild(Stream.runHead(retryEvents))
        yield* Retry.withRetry(Effect.void, retry)
        expect((yield* Fiber.join(y))._tag).toBe("Some")
      }
    }))

  it.effect("Events.subscribe is attached to every current guard once it returns", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 20; i++) {
        const event = yield* Effect.scoped(Effect.gen(function*() {
          const registry = yield* Registry.make()
          const breaker = yield* registry.circuitBreaker(`payments-${i}`)
          const events = yield* Events.subscribe(registry, { calls: false })
          const first = yield* forkChild(Stream.runHead(events))
          yield* breaker.transitionToOpen
          return yield* Fiber.join(first)
        }))
        expect(event._tag === "Some" && [event.value.name, event.value.event._tag]).toEqual([
          `payments-${i}`,
          "StateTransition"
        ])
      }
    }))

  it.effect("the README's TestClock example sees Closed, Open, HalfOpen", () =>
    Effect.scoped(Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "payments", waitDurationInOpenState: "10 seconds" })
      const changes = yield* breaker.subscribeStateChanges
      const seen = yield* forkChild(Stream.runCollect(Stream.take(changes, 3)))
      yield* breaker.transitionToOpen
      yield* TestClock.adjust("10 seconds")
      yield* Effect.exit(Effect.succeed("ok").pipe(CircuitBreaker.withCircuitBreaker(breaker)))
      expect(Array.from(yield* Fiber.join(seen))).toEqual(["Closed", "Open", "HalfOpen"])
    })))

  itScoped("a breaker and a limiter sharing a Store subscribe the same way", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "shared" })
      const changes = yield* breaker.subscribeStateChanges
      const events = yield* breaker.subscribe
      const seen = yield* forkChild(Stream.runCollect(Stream.take(changes, 2)))
      const first = yield* forkChild(Stream.runHead(events))
      yield* breaker.transitionToOpen
      expect(Array.from(yield* Fiber.join(seen))).toEqual(["Closed", "Open"])
      expect((yield* Fiber.join(first))._tag).toBe("Some")

      const limiter = yield* RateLimiter.make({ name: "shared", limitForPeriod: 1, timeoutDuration: 0 })
      const limiterEvents = yield* limiter.subscribe
      const l = yield* forkChild(Stream.runHead(limiterEvents))
      yield* Effect.exit(RateLimiter.withRateLimiter(Effect.void, limiter))
      expect((yield* Fiber.join(l))._tag).toBe("Some")
    }).pipe(Effect.provide(MemoryStore)))

  itScoped(
    "the adaptive guards' and the hedge's subscribe are counted before they return",
    () =>
      Effect.gen(function*() {
        const guards = [
          yield* AdaptiveLimiter.make({ name: "a" }),
          yield* AdaptiveThrottler.make({ name: "t" }),
          yield* Hedge.make({ name: "h" })
        ]
        for (const guard of guards) {
          expect(hubOf(guard).subscribers).toBe(0)
          const events: Stream.Stream<unknown> = yield* guard.subscribe
          expect(hubOf(guard).subscribers).toBe(1)
          expect(events).toBeDefined()
        }
      })
  )
})
