import { failureOf, forkChild } from "#port"
import { itScoped, pollFiber, TestClock, yieldNow } from "#test-port"
/**
 * Slots taken for calls made outside an effect (Resilience4j's tryAcquirePermission / acquirePermission
 * / onComplete), with the expected values of Resilience4j's SemaphoreBulkheadTest (2 slots, no wait),
 * and the bulkhead's configuration read back.
 */
import { describe, expect } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Option, Stream } from "effect"
import * as Bulkhead from "../src/guards/Bulkhead.js"
import * as RateLimiter from "../src/guards/RateLimiter.js"

const available = (bulkhead: Bulkhead.Bulkhead) => Effect.map(bulkhead.metrics, (m) => m.availableConcurrentCalls)

describe("Bulkhead permissions", () => {
  itScoped(
    "shouldHandleBasicBulkheadOperations: two slots, a refusal, two completions, events in order",
    () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "test", maxConcurrentCalls: 2, maxWaitDuration: 0 })
        const events: Array<string> = []
        yield* Effect.forkScoped(Stream.runForEach(bulkhead.events, (e) => Effect.sync(() => events.push(e._tag))))
        yield* TestClock.adjust(1)
        const first = yield* Bulkhead.tryAcquirePermission(bulkhead)
        const second = yield* Bulkhead.tryAcquirePermission(bulkhead)
        expect(Option.isSome(first) && Option.isSome(second)).toBe(true)
        expect(yield* available(bulkhead)).toBe(0)
        expect(Option.isNone(yield* Bulkhead.tryAcquirePermission(bulkhead))).toBe(true)
        expect(yield* Option.getOrThrow(first).onComplete).toBe(true)
        expect(yield* available(bulkhead)).toBe(1)
        // A slot goes back once: completing the same permission again returns nothing more.
        expect(yield* Option.getOrThrow(first).onComplete).toBe(false)
        expect(yield* available(bulkhead)).toBe(1)
        expect(yield* Option.getOrThrow(second).onComplete).toBe(true)
        expect(yield* available(bulkhead)).toBe(2)
        expect(Option.isSome(yield* Bulkhead.tryAcquirePermission(bulkhead))).toBe(true)
        yield* TestClock.adjust(1)
        expect(events).toEqual([
          "CallPermitted",
          "CallPermitted",
          "CallRejected",
          "CallFinished",
          "CallFinished",
          "CallPermitted"
        ])
      })
  )

  itScoped(
    "testZeroMaxConcurrentCalls: nothing is admitted; acquirePermission fails with BulkheadFullError",
    () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "test", maxConcurrentCalls: 0 })
        expect(Option.isNone(yield* Bulkhead.tryAcquirePermission(bulkhead))).toBe(true)
        const exit = yield* Effect.exit(Bulkhead.acquirePermission(bulkhead))
        expect(Exit.isFailure(exit) && Option.getOrUndefined(failureOf(exit.cause))?._tag).toBe("BulkheadFullError")
      })
  )

  itScoped(
    "acquirePermission waits up to maxWaitDuration; an interrupted wait takes no slot",
    () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "test", maxConcurrentCalls: 1, maxWaitDuration: "1 second" })
        const held = yield* Bulkhead.acquirePermission(bulkhead)
        const waiter = yield* forkChild(Bulkhead.acquirePermission(bulkhead))
        yield* TestClock.adjust(Duration.millis(500))
        expect(Option.isNone(yield* pollFiber(waiter))).toBe(true)
        yield* held.onComplete
        const admitted = yield* Fiber.join(waiter)
        expect(yield* available(bulkhead)).toBe(0)
        const interrupted = yield* forkChild(Bulkhead.acquirePermission(bulkhead))
        yield* TestClock.adjust(Duration.millis(100))
        yield* Fiber.interrupt(interrupted)
        expect((yield* bulkhead.metrics).availableConcurrentCalls).toBe(0)
        yield* admitted.onComplete
        // The withdrawn waiter did not take the slot that came free.
        expect(yield* available(bulkhead)).toBe(1)
        expect(yield* admitted.settled).toBe(true)
      })
  )

  itScoped(
    "changePermissionsCountWhileOneThreadIsRunningWithThisPermission, with breakwater's non-blocking lowering",
    () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "test", maxConcurrentCalls: 1, maxWaitDuration: 0 })
        const running = yield* Bulkhead.acquirePermission(bulkhead)
        expect(yield* available(bulkhead)).toBe(0)
        expect(Option.isNone(yield* Bulkhead.tryAcquirePermission(bulkhead))).toBe(true)
        yield* bulkhead.reconfigure({ maxConcurrentCalls: 2 })
        expect((yield* Bulkhead.configuration(bulkhead)).maxConcurrentCalls).toBe(2)
        expect(yield* available(bulkhead)).toBe(1)
        const second = Option.getOrThrow(yield* Bulkhead.tryAcquirePermission(bulkhead))
        expect(yield* available(bulkhead)).toBe(0)
        expect(Option.isNone(yield* Bulkhead.tryAcquirePermission(bulkhead))).toBe(true)
        // Resilience4j's changeConfig to 1 now blocks its caller until a permit is released, and the
        // config still reads 2 meanwhile. breakwater's reconfigure returns at once, without the clock
        // moving, and the new limit applies immediately: two run, one is allowed.
        const lowering = yield* forkChild(bulkhead.reconfigure({ maxConcurrentCalls: 1 }))
        yield* Effect.gen(function*() {
          for (let i = 0; i <= 9; i++) yield* yieldNow
        })
        expect(Option.isSome(yield* pollFiber(lowering))).toBe(true)
        expect((yield* Bulkhead.configuration(bulkhead)).maxConcurrentCalls).toBe(1)
        expect(yield* available(bulkhead)).toBe(0)
        yield* running.onComplete
        // One still runs: at the new limit, so nothing is admitted.
        expect(yield* available(bulkhead)).toBe(0)
        expect(Option.isNone(yield* Bulkhead.tryAcquirePermission(bulkhead))).toBe(true)
        yield* second.onComplete
        expect(yield* available(bulkhead)).toBe(1)
      })
  )

  itScoped(
    "configuration reads maxConcurrentCalls and maxWaitDuration back, after reconfigure too",
    () =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ name: "db" })
        const defaults = yield* Bulkhead.configuration(bulkhead)
        expect([defaults.name, defaults.maxConcurrentCalls, Duration.toMillis(defaults.maxWaitDuration)]).toEqual([
          "db",
          25,
          0
        ])
        yield* bulkhead.reconfigure({ maxConcurrentCalls: 3, maxWaitDuration: "2 seconds" })
        const changed = yield* Bulkhead.configuration(bulkhead)
        expect([changed.maxConcurrentCalls, Duration.toMillis(changed.maxWaitDuration)]).toEqual([3, 2000])
      })
  )
})

describe("RateLimiter.configuration", () => {
  itScoped(
    "reads Resilience4j's defaults back and follows changeLimitForPeriod / changeTimeoutDuration",
    () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "api" })
        const config = yield* RateLimiter.configuration(limiter)
        expect(config.limitForPeriod).toBe(50)
        expect(Duration.toNanos(config.limitRefreshPeriod as Duration.Duration)).toEqual(Option.some(500n))
        expect(Duration.toMillis(config.timeoutDuration)).toBe(5000)
        expect(config.algorithm).toBe("fixed-window")
        yield* limiter.changeLimitForPeriod(7)
        yield* limiter.changeTimeoutDuration("1 second")
        const changed = yield* RateLimiter.configuration(limiter)
        expect([changed.limitForPeriod, Duration.toMillis(changed.timeoutDuration)]).toEqual([7, 1000])
      })
  )
})
