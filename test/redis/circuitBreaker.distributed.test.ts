/**
 * The shared breaker's own logic (src/guards/internal/distributedCircuitBreaker.ts and
 * distributedCircuitState.ts) on the in-memory store, so time is the TestClock: timers, waits,
 * schedules, predicates, manual transitions and reconfiguration, with two instances sharing one store
 * as two processes share Redis.
 */
import { describe, expect } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, Schedule, Stream } from "effect"
// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the ports.
import { forkChild } from "#port"
import { itScoped, TestClock, yieldNow } from "#test-port"
import * as CircuitBreaker from "../../src/guards/CircuitBreaker.js"
import { memoryStore } from "../helpers/memoryStore.js"

const MemoryStore = memoryStore("local-fallback")

const settle = Effect.gen(function*() {
  for (let i = 0; i < 10; i++) yield* yieldNow
})
const fail = Effect.fail("boom")
const ok = Effect.succeed("ok")

const base: CircuitBreaker.Options = {
  name: "dependency",
  slidingWindowSize: 4,
  minimumNumberOfCalls: 4,
  waitDurationInOpenState: "10 seconds",
  permittedNumberOfCallsInHalfOpenState: 1
}

const trip = (breaker: CircuitBreaker.CircuitBreaker) =>
  Effect.replicateEffect(Effect.exit(CircuitBreaker.withCircuitBreaker(fail, breaker)), 4, { discard: true })

const recorder = (breaker: CircuitBreaker.CircuitBreaker<any, any>) =>
  Effect.gen(function*() {
    const seen: Array<string> = []
    yield* Effect.forkScoped(Stream.runForEach(breaker.events, (e) =>
      Effect.sync(() =>
        seen.push(
          e._tag === "StateTransition" ? `${e.from}->${e.to}` : e._tag === "Error" ? `Error(${e.kind})` : e._tag
        )
      )))
    yield* settle
    return Effect.andThen(settle, Effect.sync(() => [...seen]))
  })

describe("shared circuit breaker (in-memory store, TestClock)", () => {
  itScoped("instances sharing a store see each other's transitions at once", () =>
    Effect.gen(function*() {
      const a = yield* CircuitBreaker.make(base)
      const b = yield* CircuitBreaker.make(base)
      const events = yield* recorder(b)
      yield* trip(a)
      expect(yield* b.state).toBe("Open")
      const refused = yield* Effect.flip(CircuitBreaker.withCircuitBreaker(ok, b))
      expect(refused.retryAfter).toEqual(Option.some(Duration.seconds(10)))
      expect(yield* events).toEqual(["FailureRateExceeded", "Closed->Open", "CallNotPermitted"])
      expect((yield* b.metrics).numberOfNotPermittedCalls).toBe(1)
      // A breaker made later starts from the shared state.
      const c = yield* CircuitBreaker.make(base)
      expect(yield* c.state).toBe("Open")
    }).pipe(Effect.provide(MemoryStore)))

  itScoped("automatic Open -> HalfOpen and the half-open maximum wait run on timers", () =>
    Effect.gen(function*() {
      const options: CircuitBreaker.Options = {
        ...base,
        automaticTransitionFromOpenToHalfOpenEnabled: true,
        maxWaitDurationInHalfOpenState: "5 seconds",
        transitionToStateAfterWaitDuration: "Closed"
      }
      const a = yield* CircuitBreaker.make(options)
      const b = yield* CircuitBreaker.make(options)
      const changes = yield* Effect.forkScoped(Stream.runCollect(Stream.take(b.stateChanges, 4)))
      yield* settle
      yield* trip(a)
      yield* TestClock.adjust("10 seconds")
      yield* settle
      expect(yield* b.state).toBe("HalfOpen")
      yield* TestClock.adjust("5 seconds")
      yield* settle
      expect(yield* a.state).toBe("Closed")
      expect(yield* b.state).toBe("Closed")
      expect([...(yield* Fiber.join(changes))]).toEqual(["Closed", "Open", "HalfOpen", "Closed"])
    }).pipe(Effect.provide(MemoryStore)))

  itScoped("a Schedule wait backs off across consecutive openings", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ ...base, waitDurationInOpenState: Schedule.exponential("1 second") })
      yield* trip(breaker)
      yield* TestClock.adjust("1 second")
      yield* Effect.exit(CircuitBreaker.withCircuitBreaker(fail, breaker)) // the trial fails
      const refused = yield* Effect.flip(CircuitBreaker.withCircuitBreaker(ok, breaker))
      expect(refused.retryAfter).toEqual(Option.some(Duration.seconds(2)))
      yield* TestClock.adjust("2 seconds")
      expect(yield* CircuitBreaker.withCircuitBreaker(ok, breaker)).toBe("ok")
      expect(yield* breaker.state).toBe("Closed")
    }).pipe(Effect.provide(MemoryStore)))

  itScoped(
    "manual transitions: open for / until, forced open, disabled, metrics only, reset",
    () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make(base)
        yield* breaker.transitionToOpenStateFor("3 seconds")
        const first = yield* Effect.flip(CircuitBreaker.withCircuitBreaker(ok, breaker))
        expect(first.retryAfter).toEqual(Option.some(Duration.seconds(3)))
        yield* breaker.transitionToOpenStateUntil(7_000)
        const second = yield* Effect.flip(CircuitBreaker.withCircuitBreaker(ok, breaker))
        expect(second.retryAfter).toEqual(Option.some(Duration.seconds(7)))
        yield* breaker.transitionToForcedOpen
        expect((yield* Effect.flip(CircuitBreaker.withCircuitBreaker(ok, breaker))).state).toBe("ForcedOpen")
        yield* breaker.transitionToDisabled
        yield* trip(breaker)
        expect(yield* breaker.state).toBe("Disabled")
        expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(0)
        yield* breaker.transitionToMetricsOnly
        const events = yield* recorder(breaker)
        yield* trip(breaker)
        yield* trip(breaker)
        expect(yield* breaker.state).toBe("MetricsOnly")
        expect((yield* events).filter((e) => e === "FailureRateExceeded")).toHaveLength(1)
        expect((yield* Effect.flip(breaker.transitionToOpen))._tag).toBe("IllegalStateTransitionError")
        yield* breaker.reset
        expect(yield* breaker.state).toBe("Closed")
        expect(yield* events).toContain("Reset")
        yield* breaker.transitionToClosed
        yield* breaker.transitionToOpen
        yield* TestClock.adjust("10 seconds")
        yield* breaker.transitionToHalfOpen
        expect(yield* breaker.state).toBe("HalfOpen")
      }).pipe(Effect.provide(MemoryStore))
  )

  itScoped("classifies outcomes with the predicates and reports them as events", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make<string, string>({
        ...base,
        slidingWindowSize: 10,
        minimumNumberOfCalls: 10,
        ignoreError: (e) => e === "ignored",
        recordError: (e) => e !== "harmless",
        recordResult: (a) => a === "bad"
      })
      const events = yield* recorder(breaker)
      yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.fail("ignored"), breaker))
      yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.fail("harmless"), breaker))
      yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.succeed("bad"), breaker))
      yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.die("defect"), breaker))
      yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.fail("real"), breaker))
      expect(yield* events).toEqual(["IgnoredError", "Success", "Error(Result)", "Error(Defect)", "Error(Failure)"])
      expect(yield* breaker.metrics).toMatchObject({ numberOfBufferedCalls: 4, numberOfFailedCalls: 3 })
    }).pipe(Effect.provide(MemoryStore)))

  itScoped("an interrupted trial gives its permit back", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make(base)
      yield* breaker.transitionToOpenStateFor("1 second")
      yield* TestClock.adjust("1 second")
      const trial = yield* forkChild(CircuitBreaker.withCircuitBreaker(Effect.never, breaker))
      yield* settle
      expect((yield* Effect.flip(CircuitBreaker.withCircuitBreaker(ok, breaker))).state).toBe("HalfOpen")
      yield* Fiber.interrupt(trial)
      expect(yield* CircuitBreaker.withCircuitBreaker(ok, breaker)).toBe("ok")
      expect(yield* breaker.state).toBe("Closed")
    }).pipe(Effect.provide(MemoryStore)))

  itScoped("reconfigure sends the new settings with the next operations", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make(base)
      yield* Effect.exit(CircuitBreaker.withCircuitBreaker(fail, breaker))
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(1)
      yield* breaker.reconfigure({ slidingWindowSize: 8, minimumNumberOfCalls: 2 })
      yield* Effect.exit(CircuitBreaker.withCircuitBreaker(fail, breaker))
      expect(yield* breaker.metrics).toMatchObject({ numberOfBufferedCalls: 1 })
      yield* Effect.exit(CircuitBreaker.withCircuitBreaker(fail, breaker))
      expect(yield* breaker.state).toBe("Open")
      const invalid = yield* Effect.flip(breaker.reconfigure({ failureRateThreshold: 300 }))
      expect(invalid._tag).toBe("InvalidConfigError")
    }).pipe(Effect.provide(MemoryStore)))

  itScoped("annotates the caller's span with the breaker and its store", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make(base)
      const attributes = yield* CircuitBreaker.withCircuitBreaker(
        Effect.map(Effect.currentSpan, (span) => Object.fromEntries(span.attributes)),
        breaker
      ).pipe(Effect.withSpan("call"))
      expect(attributes).toMatchObject({
        "breakwater.circuitbreaker.name": "dependency",
        "breakwater.circuitbreaker.state": "Closed",
        "breakwater.circuitbreaker.store": "memory"
      })
    }).pipe(Effect.provide(MemoryStore)))

  itScoped(
    "an in-process breaker is made where no Store is provided, and onStoreFailure is validated",
    () =>
      Effect.gen(function*() {
        const local = yield* CircuitBreaker.make(base)
        expect("settings" in local).toBe(false)
        const invalid = yield* Effect.flip(
          CircuitBreaker.make({ ...base, onStoreFailure: "maybe" as unknown as "fail-open" })
        )
        expect(invalid.message).toContain("onStoreFailure")
      })
  )
})
