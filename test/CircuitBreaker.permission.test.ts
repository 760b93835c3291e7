/**
 * Calls made outside an effect (acquirePermission / onSuccess / onError / release) and reading the
 * configuration back, with Resilience4j's expected values from its CircuitBreakerStateMachineTest
 * (setUp: threshold 50%, 4 half-open calls, slow above 4 s at 50%, time window of 20 s with at least 5
 * calls, wait 5 s, NumberFormatException ignored).
 */
import { describe, expect } from "@effect/vitest"
import { Duration, Effect, Option, Stream } from "effect"
// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the test port.
import { itScoped, TestClock } from "#test-port"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import { memoryStore } from "./helpers/memoryStore.js"

const MemoryStore = memoryStore("local-fallback")

const NumberFormat = "NumberFormatException"

const makeBreaker = CircuitBreaker.make<string, string>({
  name: "testName",
  failureRateThreshold: 50,
  permittedNumberOfCallsInHalfOpenState: 4,
  slowCallDurationThreshold: "4 seconds",
  slowCallRateThreshold: 50,
  maxWaitDurationInHalfOpenState: "1 second",
  slidingWindowType: "TIME_BASED",
  slidingWindowSize: 20,
  minimumNumberOfCalls: 5,
  waitDurationInOpenState: "5 seconds",
  ignoreError: (e) => e === NumberFormat
})

const tryAcquire = (breaker: CircuitBreaker.CircuitBreaker<string, string>) =>
  Effect.map(CircuitBreaker.tryAcquirePermission(breaker), Option.getOrUndefined)

const halfOpen = (breaker: CircuitBreaker.CircuitBreaker<string, string>) =>
  Effect.andThen(breaker.transitionToOpen, breaker.transitionToHalfOpen)

/** Takes a permission, lets `millis` pass, and settles it with `settle`. */
const call = (
  breaker: CircuitBreaker.CircuitBreaker<string, string>,
  millis: number,
  settle: (p: CircuitBreaker.Permission<string, string>) => Effect.Effect<boolean>
) =>
  Effect.gen(function*() {
    const permission = yield* CircuitBreaker.acquirePermission(breaker)
    if (millis > 0) yield* TestClock.adjust(Duration.millis(millis))
    return yield* settle(permission)
  })

describe("CircuitBreaker permissions (Resilience4j's acquirePermission / onSuccess / onError / releasePermission)", () => {
  itScoped(
    "shouldThrowCallNotPermittedExceptionWhenStateIsOpen / ForcedOpen: refused and counted",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker
        yield* breaker.transitionToOpen
        const refused = yield* Effect.flip(CircuitBreaker.acquirePermission(breaker))
        expect(refused._tag).toBe("CallNotPermittedError")
        expect((yield* breaker.metrics).numberOfNotPermittedCalls).toBe(1)
        const forced = yield* makeBreaker
        yield* forced.transitionToForcedOpen
        expect(Option.isNone(yield* CircuitBreaker.tryAcquirePermission(forced))).toBe(true)
        expect((yield* forced.metrics).numberOfNotPermittedCalls).toBe(1)
      })
  )

  itScoped(
    "shouldIncreaseCounterOnReleasePermission: four half-open permits, a released one comes back once",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker
        yield* halfOpen(breaker)
        const permits = yield* Effect.all(Array.from({ length: 4 }, () => tryAcquire(breaker)))
        expect(permits.every((p) => p !== undefined)).toBe(true)
        expect(yield* tryAcquire(breaker)).toBeUndefined()
        expect(yield* tryAcquire(breaker)).toBeUndefined()
        expect(yield* permits[0]!.release).toBe(true)
        // The token settles once: releasing (or recording) it again gives nothing back.
        expect(yield* permits[0]!.release).toBe(false)
        expect(yield* permits[0]!.onError("boom")).toBe(false)
        expect(yield* permits[0]!.settled).toBe(true)
        expect(yield* tryAcquire(breaker)).toBeDefined()
        expect(yield* tryAcquire(breaker)).toBeUndefined()
        expect(yield* breaker.state).toBe("HalfOpen")
        expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(0)
      })
  )

  itScoped(
    "shouldReleasePermissionWhenExceptionIgnored: an ignored error gives its trial permit back",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker
        yield* halfOpen(breaker)
        for (const expected of [1, 2, 3]) {
          yield* call(breaker, 0, (p) => p.onSuccess("ok"))
          expect(yield* breaker.state).toBe("HalfOpen")
          expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(expected)
        }
        yield* call(breaker, 0, (p) => p.onError(NumberFormat))
        expect(yield* breaker.state).toBe("HalfOpen")
        expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(3)
        yield* call(breaker, 0, (p) => p.onError("RuntimeException"))
        // 1 failure in 4: 25% < 50%.
        expect(yield* breaker.state).toBe("Closed")
        expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(0)
      })
  )

  itScoped(
    "shouldOpenAfterSlowCallRateThresholdExceeded: durations are measured from acquisition",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker
        yield* call(breaker, 5_000, (p) => p.onError("RuntimeException"))
        yield* call(breaker, 5_000, (p) => p.onSuccess("ok"))
        yield* call(breaker, 100, (p) => p.onError("RuntimeException"))
        yield* call(breaker, 100, (p) => p.onSuccess("ok"))
        expect(yield* breaker.state).toBe("Closed")
        yield* call(breaker, 5_000, (p) => p.onSuccess("ok"))
        expect(yield* breaker.state).toBe("Open")
        const metrics = yield* breaker.metrics
        expect(metrics.numberOfBufferedCalls).toBe(5)
        expect(metrics.numberOfSlowCalls).toBe(3)
        expect(metrics.slowCallRate).toBe(60)
      })
  )

  itScoped(
    "a result that arrives after its state ended is dropped (as a guarded effect's)",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker
        yield* halfOpen(breaker)
        const late = yield* CircuitBreaker.acquirePermission(breaker)
        yield* breaker.transitionToClosed
        expect(yield* late.onError("RuntimeException")).toBe(true)
        expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(0)
      })
  )

  itScoped(
    "recordResult and recordError apply to settled calls; events are a guarded call's",
    () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make<string, string>({
          name: "results",
          minimumNumberOfCalls: 2,
          slidingWindowSize: 2,
          recordResult: (body) => body === "",
          recordError: (e) => e !== "NotFound"
        })
        const events: Array<string> = []
        yield* Effect.forkScoped(Stream.runForEach(breaker.events, (e) => Effect.sync(() => events.push(e._tag))))
        yield* TestClock.adjust(1)
        yield* call(breaker, 0, (p) => p.onError("NotFound")) // a success
        yield* call(breaker, 0, (p) => p.onSuccess("")) // a failure
        const metrics = yield* breaker.metrics
        expect(metrics.numberOfSuccessfulCalls).toBe(1)
        expect(metrics.numberOfFailedCalls).toBe(1)
        yield* TestClock.adjust(1)
        // One failure in two is 50%: the breaker opens, as after two guarded calls.
        expect(events).toEqual(["Success", "Error", "FailureRateExceeded", "StateTransition"])
        expect(yield* breaker.state).toBe("Open")
      })
  )

  itScoped(
    "configuration reads back the resolved options, defaults filled in, and follows reconfigure",
    () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({ name: "defaults" })
        const config = yield* CircuitBreaker.configuration(breaker)
        // Resilience4j's CircuitBreakerConfig defaults.
        expect(config).toMatchObject({
          name: "defaults",
          failureRateThreshold: 50,
          slowCallRateThreshold: 100,
          slidingWindowType: "COUNT_BASED",
          slidingWindowSize: 100,
          minimumNumberOfCalls: 100,
          permittedNumberOfCallsInHalfOpenState: 10,
          automaticTransitionFromOpenToHalfOpenEnabled: false
        })
        expect(Duration.toMillis(config.waitDurationInOpenState as Duration.Duration)).toBe(60_000)
        expect(Duration.toMillis(config.slowCallDurationThreshold)).toBe(60_000)
        expect(Duration.toMillis(config.maxWaitDurationInHalfOpenState)).toBe(0)
        yield* breaker.reconfigure({ failureRateThreshold: 20, waitDurationInOpenState: "1 second" })
        const changed = yield* CircuitBreaker.configuration(breaker)
        expect(changed.failureRateThreshold).toBe(20)
        expect(Duration.toMillis(changed.waitDurationInOpenState as Duration.Duration)).toBe(1_000)
      })
  )

  itScoped(
    "a shared breaker (in-memory store) takes and gives back half-open permits the same way",
    () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make<string, string>({
          name: "shared",
          slidingWindowSize: 2,
          minimumNumberOfCalls: 2,
          permittedNumberOfCallsInHalfOpenState: 2
        }).pipe(Effect.provide(MemoryStore))
        yield* halfOpen(breaker)
        const first = yield* CircuitBreaker.acquirePermission(breaker)
        const second = yield* CircuitBreaker.acquirePermission(breaker)
        expect(yield* tryAcquire(breaker)).toBeUndefined()
        expect(yield* first.release).toBe(true)
        expect(yield* first.release).toBe(false)
        const third = yield* CircuitBreaker.acquirePermission(breaker)
        expect(yield* tryAcquire(breaker)).toBeUndefined()
        yield* second.onSuccess("ok")
        yield* third.onSuccess("ok")
        expect(yield* breaker.state).toBe("Closed")
        expect((yield* CircuitBreaker.configuration(breaker)).permittedNumberOfCallsInHalfOpenState).toBe(2)
      })
  )
})
