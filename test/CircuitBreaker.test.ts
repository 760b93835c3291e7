import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Ref, Schedule, Scope, Stream } from "effect"
// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the ports.
import {
  type CloseableScope,
  failureOf as failureOfCause,
  forkChild,
  isInterruptOnly,
  scheduleIntersect,
  scopeProvide,
  Service
} from "#port"
import {
  configFromEnv,
  configFromJson,
  itScoped,
  pollFiber,
  scopeFinalizers,
  TestClock,
  withConfig,
  yieldNow
} from "#test-port"
import { InvalidConfigError } from "../src/errors/InvalidConfigError.js"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"

// ---- helpers -------------------------------------------------------------------------------------

/** Any breaker, whatever its predicates look at (the breaker type is contravariant in both). */
type AnyBreaker = CircuitBreaker.CircuitBreaker<never, never>
type Breaker = CircuitBreaker.CircuitBreaker<string, string>
type State = CircuitBreaker.State

/** A small breaker: 4-call count window, trips at 50 % failures, 10 s in Open, 2 half-open trial calls. */
const base = {
  name: "test",
  slidingWindowSize: 4,
  minimumNumberOfCalls: 4,
  waitDurationInOpenState: "10 seconds",
  permittedNumberOfCallsInHalfOpenState: 2
} as const

const makeBreaker = <E = unknown, A = unknown>(overrides: Partial<CircuitBreaker.Options<E, A>> = {}) =>
  CircuitBreaker.make<E, A>({ ...base, ...overrides })

/** Runs `self` through the breaker and returns its Exit. */
const guarded = <A, E>(breaker: CircuitBreaker.CircuitBreaker<E, A>, self: Effect.Effect<A, E>) =>
  Effect.exit(CircuitBreaker.withCircuitBreaker(self, breaker))

const succeed = (breaker: Breaker, value = "ok") => guarded(breaker, Effect.succeed(value))
const fail = (breaker: Breaker, error = "boom") => guarded(breaker, Effect.fail(error))

/** A call that takes exactly `millis` of `TestClock` time, then does `self`. */
const timed = <A, E>(breaker: CircuitBreaker.CircuitBreaker<E, A>, millis: number, self: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const fiber = yield* forkChild(guarded(breaker, Effect.delay(self, Duration.millis(millis))))
    yield* TestClock.adjust(Duration.millis(millis))
    return yield* Fiber.join(fiber)
  })

const repeat = <A, E, R>(n: number, self: Effect.Effect<A, E, R>) => Effect.replicateEffect(self, n, { discard: true })

/** Lets forked fibers (event subscribers, calls) run up to their next wait. */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 10; i++) yield* yieldNow
})

const advance = (millis: number) => TestClock.adjust(Duration.millis(millis))

const show = (e: CircuitBreaker.Event): string => {
  switch (e._tag) {
    case "Success":
      return "Success"
    case "Error":
      return `Error(${e.kind})`
    case "IgnoredError":
      return "IgnoredError"
    case "CallNotPermitted":
      return `CallNotPermitted(${e.state})`
    case "StateTransition":
      return `${e.from}->${e.to}`
    case "Reset":
      return "Reset"
    case "FailureRateExceeded":
      return `FailureRateExceeded(${e.failureRate})`
    case "SlowCallRateExceeded":
      return `SlowCallRateExceeded(${e.slowCallRate})`
    case "StoreUnavailable":
      return `StoreUnavailable(${e.mode})`
    case "StoreRecovered":
      return "StoreRecovered"
    case "StoreSettingsConflict":
      return "StoreSettingsConflict"
    case "StoreStateDiscarded":
      return `StoreStateDiscarded(${e.reason})`
  }
}

/**
 * Subscribes to the breaker's events for the rest of the test's scope; `events` / `names` read what
 * has arrived so far.
 */
const recordEvents = (breaker: AnyBreaker) =>
  Effect.gen(function*() {
    const seen: Array<CircuitBreaker.Event> = []
    yield* Effect.forkScoped(Stream.runForEach(breaker.events, (e) => Effect.sync(() => seen.push(e))))
    yield* settle
    const events = Effect.andThen(settle, Effect.sync((): ReadonlyArray<CircuitBreaker.Event> => [...seen]))
    return { events, names: Effect.map(events, (all) => all.map(show)) }
  })

const expectState = (breaker: AnyBreaker, expected: State) =>
  Effect.map(breaker.state, (state) => expect(state).toBe(expected))

/** The refusal inside a failed Exit. */
const refusalOf = <A, E>(exit: Exit.Exit<A, E>): CircuitBreaker.CallNotPermittedError => {
  if (Exit.isSuccess(exit)) throw new Error("expected a refusal, got a success")
  const failure = failureOfCause(exit.cause)
  if (Option.isNone(failure) || !(failure.value instanceof CircuitBreaker.CallNotPermittedError)) {
    throw new Error(`expected a CallNotPermittedError, got ${Cause.pretty(exit.cause)}`)
  }
  return failure.value
}

const isRefusal = <A, E>(exit: Exit.Exit<A, E>) =>
  Exit.isFailure(exit) &&
  Option.exists(failureOfCause(exit.cause), (e) => e instanceof CircuitBreaker.CallNotPermittedError)

/** The failure of an Effect that must fail. */
const failureOf = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.flip(self)

/** Opens a `base` breaker by failing `minimumNumberOfCalls` (4) calls. */
const tripOpen = (breaker: Breaker) => repeat(4, fail(breaker))

/** Opens the breaker and moves it to HalfOpen by hand. */
const toHalfOpen = (breaker: AnyBreaker) => Effect.andThen(breaker.transitionToOpen, breaker.transitionToHalfOpen)

const millisOf = (d: Duration.Duration) => Duration.toMillis(d)

// ---- Closed → Open -------------------------------------------------------------------------------

describe("Closed", () => {
  itScoped("opens when the failure rate reaches the threshold (>=)", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      yield* succeed(breaker)
      yield* succeed(breaker)
      yield* fail(breaker)
      yield* expectState(breaker, "Closed")
      expect((yield* breaker.metrics).failureRate).toBe(-1)
      yield* fail(breaker) // 2 of 4 = 50 %, exactly the threshold
      yield* expectState(breaker, "Open")
      expect((yield* breaker.metrics).failureRate).toBe(50)
    }))

  itScoped("stays closed just below the threshold", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ failureRateThreshold: 51 })
      yield* repeat(2, succeed(breaker))
      yield* repeat(2, fail(breaker))
      yield* expectState(breaker, "Closed")
      expect((yield* breaker.metrics).failureRate).toBe(50)
    }))

  itScoped("reads rates as -1 until minimumNumberOfCalls are buffered", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ slidingWindowSize: 10, minimumNumberOfCalls: 5 })
      yield* repeat(4, fail(breaker))
      const below = yield* breaker.metrics
      expect(below).toMatchObject({
        failureRate: -1,
        slowCallRate: -1,
        numberOfBufferedCalls: 4,
        numberOfFailedCalls: 4
      })
      yield* expectState(breaker, "Closed")
      yield* fail(breaker)
      yield* expectState(breaker, "Open")
      expect((yield* breaker.metrics).failureRate).toBe(100)
    }))

  itScoped("caps minimumNumberOfCalls at the size of a COUNT_BASED window", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ slidingWindowSize: 3, minimumNumberOfCalls: 100 })
      yield* repeat(2, fail(breaker))
      expect((yield* breaker.metrics).failureRate).toBe(-1)
      yield* fail(breaker)
      yield* expectState(breaker, "Open")
      expect((yield* breaker.metrics).failureRate).toBe(100)
    }))

  itScoped("does not cap minimumNumberOfCalls for a TIME_BASED window", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({
        slidingWindowType: "TIME_BASED",
        slidingWindowSize: 3,
        minimumNumberOfCalls: 5
      })
      yield* repeat(4, fail(breaker))
      expect(yield* breaker.metrics).toMatchObject({ failureRate: -1, numberOfBufferedCalls: 4 })
      yield* expectState(breaker, "Closed")
      yield* fail(breaker)
      yield* expectState(breaker, "Open")
    }))

  itScoped("evicts the oldest call from a COUNT_BASED window", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ failureRateThreshold: 75 })
      yield* fail(breaker)
      yield* fail(breaker)
      yield* repeat(2, succeed(breaker))
      expect((yield* breaker.metrics).failureRate).toBe(50)
      yield* succeed(breaker) // evicts the first failure
      expect(yield* breaker.metrics).toMatchObject({
        numberOfBufferedCalls: 4,
        numberOfFailedCalls: 1,
        failureRate: 25
      })
      yield* repeat(3, succeed(breaker)) // evicts the rest
      expect(yield* breaker.metrics).toMatchObject({ numberOfBufferedCalls: 4, numberOfFailedCalls: 0, failureRate: 0 })
    }))

  itScoped("opens on the slow-call rate alone, with no failures", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({
        failureRateThreshold: 100,
        slowCallRateThreshold: 50,
        slowCallDurationThreshold: "1 second"
      })
      const { names } = yield* recordEvents(breaker)
      yield* repeat(2, succeed(breaker))
      yield* timed(breaker, 1001, Effect.succeed("slow"))
      yield* expectState(breaker, "Closed")
      yield* timed(breaker, 1001, Effect.succeed("slow"))
      yield* expectState(breaker, "Open")
      expect(yield* breaker.metrics).toMatchObject({
        failureRate: 0,
        slowCallRate: 50,
        numberOfSlowCalls: 2,
        numberOfSlowSuccessfulCalls: 2,
        numberOfSlowFailedCalls: 0
      })
      expect(yield* names).toEqual([
        "Success",
        "Success",
        "Success",
        "Success",
        "SlowCallRateExceeded(50)",
        "Closed->Open"
      ])
    }))

  itScoped("opens on the failure rate alone, with no slow calls", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ slowCallRateThreshold: 1, slowCallDurationThreshold: "1 second" })
      const { names } = yield* recordEvents(breaker)
      yield* repeat(2, succeed(breaker))
      yield* repeat(2, fail(breaker))
      yield* expectState(breaker, "Open")
      expect((yield* breaker.metrics).slowCallRate).toBe(0)
      expect(yield* names).toEqual([
        "Success",
        "Success",
        "Error(Failure)",
        "Error(Failure)",
        "FailureRateExceeded(50)",
        "Closed->Open"
      ])
    }))

  itScoped(
    "counts a call as slow only when strictly longer than slowCallDurationThreshold",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker({
          slowCallRateThreshold: 25,
          slowCallDurationThreshold: "1 second"
        })
        yield* repeat(4, timed(breaker, 1000, Effect.succeed("exactly")))
        expect(yield* breaker.metrics).toMatchObject({ slowCallRate: 0, numberOfSlowCalls: 0 })
        yield* expectState(breaker, "Closed")
        yield* timed(breaker, 1001, Effect.succeed("slower"))
        expect(yield* breaker.metrics).toMatchObject({ slowCallRate: 25, numberOfSlowCalls: 1 })
        yield* expectState(breaker, "Open")
      })
  )

  itScoped("counts a slow failed call as both failed and slow", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ failureRateThreshold: 100, slowCallDurationThreshold: "1 second" })
      yield* timed(breaker, 2000, Effect.fail("slow boom"))
      yield* timed(breaker, 2000, Effect.succeed("slow ok"))
      yield* fail(breaker)
      yield* succeed(breaker)
      expect(yield* breaker.metrics).toEqual({
        failureRate: 50,
        slowCallRate: 50,
        numberOfBufferedCalls: 4,
        numberOfFailedCalls: 2,
        numberOfSlowCalls: 2,
        numberOfSlowFailedCalls: 1,
        numberOfSlowSuccessfulCalls: 1,
        numberOfSuccessfulCalls: 2,
        numberOfNotPermittedCalls: 0,
        consecutiveOpenings: 0
      })
    }))

  itScoped(
    "publishes both rate-exceeded events, failures first, when both thresholds trip",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker({ slowCallRateThreshold: 50, slowCallDurationThreshold: "1 second" })
        const { events } = yield* recordEvents(breaker)
        yield* repeat(4, timed(breaker, 1500, Effect.fail("slow boom")))
        yield* expectState(breaker, "Open")
        const tail = (yield* events).slice(-3)
        expect(tail.map(show)).toEqual(["FailureRateExceeded(100)", "SlowCallRateExceeded(100)", "Closed->Open"])
        expect(tail.every((e) => e.breakerName === "test" && e.at === 6000)).toBe(true)
      })
  )

  itScoped("does not record a call admitted in an earlier Closed period", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      const gate = yield* Deferred.make<void>()
      const fiber = yield* forkChild(guarded(breaker, Effect.andThen(Deferred.await(gate), Effect.fail("late"))))
      yield* settle
      yield* breaker.transitionToOpen
      yield* breaker.transitionToClosed
      yield* Deferred.succeed(gate, undefined)
      const exit = yield* Fiber.join(fiber)
      expect(exit).toEqual(Exit.fail("late"))
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(0)
    }))
})

// ---- Open ----------------------------------------------------------------------------------------

describe("Open", () => {
  itScoped(
    "refuses calls without running them, with a CallNotPermittedError saying how long is left",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker({ name: "payments" })
        yield* tripOpen(breaker)
        yield* advance(3000)
        const runs = yield* Ref.make(0)
        const exit = yield* guarded(breaker, Ref.updateAndGet(runs, (n) => n + 1))
        const refusal = refusalOf(exit)
        expect(refusal._tag).toBe("CallNotPermittedError")
        expect(refusal.breakerName).toBe("payments")
        expect(refusal.state).toBe("Open")
        expect(Option.map(refusal.retryAfter, millisOf)).toEqual(Option.some(7000))
        expect(refusal.message).toBe(
          "CircuitBreaker 'payments' is Open and does not permit further calls (a trial call may be admitted in 7s)"
        )
        expect(yield* Ref.get(runs)).toBe(0)
      })
  )

  itScoped("lets Effect.catchTag handle the refusal", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      yield* breaker.transitionToOpen
      const result = yield* Effect.succeed("live").pipe(
        CircuitBreaker.withCircuitBreaker(breaker),
        Effect.catchTag("CallNotPermittedError", (e) => Effect.succeed(`fallback (${e.state})`))
      )
      expect(result).toBe("fallback (Open)")
    }))

  itScoped("keeps the metrics it opened with and counts refused calls", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      yield* repeat(2, succeed(breaker))
      yield* repeat(2, fail(breaker))
      yield* expectState(breaker, "Open")
      yield* repeat(3, succeed(breaker))
      expect(yield* breaker.metrics).toMatchObject({
        failureRate: 50,
        numberOfBufferedCalls: 4,
        numberOfFailedCalls: 2,
        numberOfSuccessfulCalls: 2,
        numberOfNotPermittedCalls: 3
      })
    }))

  itScoped(
    "moves to HalfOpen lazily, on the first call once waitDurationInOpenState has passed",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker()
        const { names } = yield* recordEvents(breaker)
        yield* tripOpen(breaker)
        yield* advance(9999)
        const early = refusalOf(yield* succeed(breaker))
        expect(Option.map(early.retryAfter, millisOf)).toEqual(Option.some(1))
        yield* advance(60_000) // no timer: nothing happens without a call
        yield* expectState(breaker, "Open")
        const exit = yield* succeed(breaker, "trial")
        expect(exit).toEqual(Exit.succeed("trial"))
        yield* expectState(breaker, "HalfOpen")
        expect((yield* names).slice(-4)).toEqual([
          "Closed->Open",
          "CallNotPermitted(Open)",
          "Open->HalfOpen",
          "Success"
        ])
      })
  )

  itScoped("admits the first call at exactly waitDurationInOpenState", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      yield* tripOpen(breaker)
      yield* advance(10_000)
      expect(yield* succeed(breaker)).toEqual(Exit.succeed("ok"))
      yield* expectState(breaker, "HalfOpen")
    }))

  itScoped(
    "moves to HalfOpen by timer with automaticTransitionFromOpenToHalfOpenEnabled",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker({ automaticTransitionFromOpenToHalfOpenEnabled: true })
        const { events } = yield* recordEvents(breaker)
        yield* tripOpen(breaker)
        yield* advance(9999)
        yield* expectState(breaker, "Open")
        yield* advance(1)
        yield* expectState(breaker, "HalfOpen")
        const last = (yield* events).at(-1)
        expect(last).toEqual(
          CircuitBreaker.Event.StateTransition({ breakerName: "test", at: 10_000, from: "Open", to: "HalfOpen" })
        )
      })
  )

  itScoped("does not run the automatic timer once the breaker has left Open", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ automaticTransitionFromOpenToHalfOpenEnabled: true })
      yield* tripOpen(breaker)
      yield* breaker.transitionToClosed
      yield* advance(20_000)
      yield* expectState(breaker, "Closed")
    }))
})

// ---- HalfOpen ------------------------------------------------------------------------------------

describe("HalfOpen", () => {
  itScoped("starts with a fresh window", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      yield* tripOpen(breaker)
      yield* succeed(breaker) // refused, counted
      yield* advance(10_000)
      yield* breaker.transitionToHalfOpen
      expect(yield* breaker.metrics).toMatchObject({
        failureRate: -1,
        slowCallRate: -1,
        numberOfBufferedCalls: 0,
        numberOfNotPermittedCalls: 0
      })
    }))

  itScoped(
    "closes once permittedNumberOfCallsInHalfOpenState calls succeed, with a fresh window",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker({ permittedNumberOfCallsInHalfOpenState: 3, minimumNumberOfCalls: 4 })
        yield* tripOpen(breaker)
        yield* advance(10_000)
        yield* repeat(2, succeed(breaker))
        yield* expectState(breaker, "HalfOpen")
        expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(2)
        yield* succeed(breaker)
        yield* expectState(breaker, "Closed")
        expect(yield* breaker.metrics).toMatchObject({ numberOfBufferedCalls: 0, failureRate: -1 })
      })
  )

  itScoped("re-opens when the trial calls reach the failure threshold", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ permittedNumberOfCallsInHalfOpenState: 3 })
      const { names } = yield* recordEvents(breaker)
      yield* tripOpen(breaker)
      yield* advance(10_000)
      yield* succeed(breaker)
      yield* fail(breaker)
      yield* expectState(breaker, "HalfOpen")
      yield* fail(breaker)
      yield* expectState(breaker, "Open")
      // No rate-exceeded events in HalfOpen, only the transition (as in Resilience4j).
      expect((yield* names).slice(-5)).toEqual([
        "Open->HalfOpen",
        "Success",
        "Error(Failure)",
        "Error(Failure)",
        "HalfOpen->Open"
      ])
      expect((yield* breaker.metrics).failureRate).toBeCloseTo(200 / 3)
    }))

  itScoped("re-opens on slow trial calls", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ slowCallDurationThreshold: "1 second", slowCallRateThreshold: 50 })
      yield* breaker.transitionToOpen
      yield* breaker.transitionToHalfOpen
      yield* succeed(breaker)
      yield* timed(breaker, 5000, Effect.succeed("slow"))
      yield* expectState(breaker, "Open")
      expect((yield* breaker.metrics).slowCallRate).toBe(50)
    }))

  itScoped("decides after min(minimumNumberOfCalls, permitted) calls", () =>
    Effect.gen(function*() {
      const opens = yield* makeBreaker({ permittedNumberOfCallsInHalfOpenState: 5, minimumNumberOfCalls: 2 })
      yield* toHalfOpen(opens)
      yield* fail(opens)
      yield* expectState(opens, "HalfOpen")
      yield* fail(opens)
      yield* expectState(opens, "Open")

      const closes = yield* makeBreaker({ permittedNumberOfCallsInHalfOpenState: 5, minimumNumberOfCalls: 2 })
      yield* toHalfOpen(closes)
      yield* repeat(2, succeed(closes))
      yield* expectState(closes, "Closed")
    }))

  itScoped("refuses callers beyond the permitted trial calls, without running them", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      const { names } = yield* recordEvents(breaker)
      yield* toHalfOpen(breaker)
      const gate = yield* Deferred.make<void>()
      const trials = yield* forkChild(
        Effect.all([1, 2].map(() => guarded(breaker, Effect.as(Deferred.await(gate), "trial"))), {
          concurrency: "unbounded"
        })
      )
      yield* settle
      const runs = yield* Ref.make(0)
      const refusal = refusalOf(yield* guarded(breaker, Ref.updateAndGet(runs, (n) => n + 1)))
      expect(refusal.state).toBe("HalfOpen")
      expect(refusal.retryAfter).toEqual(Option.none())
      expect(refusal.message).toBe("CircuitBreaker 'test' is HalfOpen and does not permit further calls")
      expect(yield* Ref.get(runs)).toBe(0)
      expect((yield* breaker.metrics).numberOfNotPermittedCalls).toBe(1)
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Fiber.join(trials)).toEqual([Exit.succeed("trial"), Exit.succeed("trial")])
      yield* expectState(breaker, "Closed")
      expect(yield* names).toContain("CallNotPermitted(HalfOpen)")
    }))

  itScoped("admits exactly the permitted number of many concurrent callers", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ permittedNumberOfCallsInHalfOpenState: 3 })
      yield* toHalfOpen(breaker)
      const runs = yield* Ref.make(0)
      const gate = yield* Deferred.make<void>()
      const call = guarded(breaker, Effect.andThen(Ref.update(runs, (n) => n + 1), Deferred.await(gate)))
      const fiber = yield* forkChild(
        Effect.all(Array.from({ length: 200 }, () => call), { concurrency: "unbounded" })
      )
      yield* settle
      expect(yield* Ref.get(runs)).toBe(3)
      yield* Deferred.succeed(gate, undefined)
      const exits = yield* Fiber.join(fiber)
      expect(exits.filter(Exit.isSuccess)).toHaveLength(3)
      expect(exits.filter(isRefusal)).toHaveLength(197)
      expect((yield* breaker.metrics).numberOfNotPermittedCalls).toBe(0) // Closed again: fresh counters
      yield* expectState(breaker, "Closed")
    }))

  itScoped(
    "moves to Open when maxWaitDurationInHalfOpenState expires (the default target)",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker({ maxWaitDurationInHalfOpenState: "5 seconds" })
        const { events } = yield* recordEvents(breaker)
        yield* toHalfOpen(breaker)
        yield* succeed(breaker) // one of two trial calls: no decision yet
        yield* advance(4999)
        yield* expectState(breaker, "HalfOpen")
        yield* advance(1)
        yield* expectState(breaker, "Open")
        expect((yield* events).at(-1)).toEqual(
          CircuitBreaker.Event.StateTransition({ breakerName: "test", at: 5000, from: "HalfOpen", to: "Open" })
        )
        // A fresh 10 s open period started when the half-open wait expired.
        expect(Option.map(refusalOf(yield* succeed(breaker)).retryAfter, millisOf)).toEqual(Option.some(10_000))
      })
  )

  itScoped(
    "moves to transitionToStateAfterWaitDuration = Closed when the maximum wait expires",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker({
          maxWaitDurationInHalfOpenState: "5 seconds",
          transitionToStateAfterWaitDuration: "Closed"
        })
        yield* toHalfOpen(breaker)
        yield* advance(5000)
        yield* expectState(breaker, "Closed")
      })
  )

  itScoped("cancels the maximum-wait timer when the trial calls decide first", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ maxWaitDurationInHalfOpenState: "5 seconds" })
      yield* toHalfOpen(breaker)
      yield* repeat(2, succeed(breaker))
      yield* expectState(breaker, "Closed")
      yield* advance(60_000)
      yield* expectState(breaker, "Closed")
    }))

  itScoped(
    "stays HalfOpen indefinitely when maxWaitDurationInHalfOpenState is 0 (the default)",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker()
        yield* toHalfOpen(breaker)
        yield* succeed(breaker)
        yield* advance(Duration.toMillis("1 day"))
        yield* expectState(breaker, "HalfOpen")
      })
  )
})

// ---- manual transitions --------------------------------------------------------------------------

const STATES: ReadonlyArray<State> = ["Closed", "Open", "HalfOpen", "Disabled", "ForcedOpen", "MetricsOnly"]
const ILLEGAL = new Set(["Closed->HalfOpen", "MetricsOnly->Open", "MetricsOnly->HalfOpen"])

const moveTo = (breaker: AnyBreaker, state: State): Effect.Effect<void, CircuitBreaker.IllegalStateTransitionError> => {
  switch (state) {
    case "Closed":
      return breaker.transitionToClosed
    case "Open":
      return breaker.transitionToOpen
    case "HalfOpen":
      return breaker.transitionToHalfOpen
    case "Disabled":
      return breaker.transitionToDisabled
    case "ForcedOpen":
      return breaker.transitionToForcedOpen
    case "MetricsOnly":
      return breaker.transitionToMetricsOnly
  }
}

/** From a fresh Closed breaker to `state` by legal steps. */
const reach = (breaker: AnyBreaker, state: State) => state === "HalfOpen" ? toHalfOpen(breaker) : moveTo(breaker, state)

describe("manual transitions", () => {
  itScoped.each(STATES.flatMap((from) => STATES.map((to) => [from, to] as const)))(
    "%s -> %s",
    ([from, to]) =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker()
        yield* reach(breaker, from)
        yield* expectState(breaker, from)
        const { names } = yield* recordEvents(breaker)
        const exit = yield* Effect.exit(moveTo(breaker, to))
        if (ILLEGAL.has(`${from}->${to}`)) {
          expect(exit).toEqual(
            Exit.fail(new CircuitBreaker.IllegalStateTransitionError({ breakerName: "test", from, to }))
          )
          yield* expectState(breaker, from)
          expect(yield* names).toEqual([])
        } else {
          expect(exit).toEqual(Exit.succeed(undefined))
          yield* expectState(breaker, to)
          expect(yield* names).toEqual(from === to ? [] : [`${from}->${to}`])
        }
      })
  )

  itScoped("explains an illegal transition in its message", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ name: "inventory" })
      const error = yield* failureOf(breaker.transitionToHalfOpen)
      expect(error._tag).toBe("IllegalStateTransitionError")
      expect(error.message).toBe("CircuitBreaker 'inventory' cannot move from Closed to HalfOpen")
    }))

  itScoped("keeps the metrics on a transition to the same state", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      yield* fail(breaker)
      yield* breaker.transitionToClosed
      expect((yield* breaker.metrics).numberOfFailedCalls).toBe(1)
    }))

  itScoped("transitionToOpen keeps the Closed window", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      yield* fail(breaker)
      yield* succeed(breaker)
      yield* breaker.transitionToOpen
      expect(yield* breaker.metrics).toMatchObject({ numberOfBufferedCalls: 2, numberOfFailedCalls: 1 })
    }))

  itScoped(
    "transitionToOpenStateFor(duration) opens for that duration instead of the configured wait",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker()
        yield* breaker.transitionToOpenStateFor("3 seconds")
        yield* expectState(breaker, "Open")
        expect(Option.map(refusalOf(yield* succeed(breaker)).retryAfter, millisOf)).toEqual(Option.some(3000))
        yield* advance(2999)
        expect(isRefusal(yield* succeed(breaker))).toBe(true)
        yield* advance(1)
        expect(yield* succeed(breaker)).toEqual(Exit.succeed("ok"))
        yield* expectState(breaker, "HalfOpen")
      })
  )

  itScoped(
    "transitionToOpenStateFor while Open starts a new Open period with that wait, without an event",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker({ automaticTransitionFromOpenToHalfOpenEnabled: true })
        const { names } = yield* recordEvents(breaker)
        yield* breaker.transitionToOpen // the configured 10 s
        yield* advance(1000)
        yield* breaker.transitionToOpenStateFor("3 seconds")
        expect(Option.map(refusalOf(yield* succeed(breaker)).retryAfter, millisOf)).toEqual(Option.some(3000))
        yield* advance(2999)
        yield* expectState(breaker, "Open")
        yield* advance(1) // the new timer fires; the old 10 s one never does
        yield* expectState(breaker, "HalfOpen")
        expect((yield* names).filter((n) => n.includes("->"))).toEqual(["Closed->Open", "Open->HalfOpen"])
      })
  )

  itScoped(
    "transitionToOpenStateFor counts as a consecutive opening for a Schedule wait",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker({ waitDurationInOpenState: Schedule.exponential("1 second") })
        yield* breaker.transitionToOpenStateFor("5 seconds") // opening 1: explicit wait, schedule stepped
        yield* advance(5000)
        yield* repeat(2, fail(breaker)) // both trial calls fail: opening 2 waits the schedule's second step
        expect(Option.map(refusalOf(yield* succeed(breaker)).retryAfter, millisOf)).toEqual(Option.some(2000))
      })
  )

  itScoped("transitionToOpenStateUntil opens until that Clock time", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      yield* advance(1000)
      yield* breaker.transitionToOpenStateUntil(5000)
      expect(Option.map(refusalOf(yield* succeed(breaker)).retryAfter, millisOf)).toEqual(Option.some(4000))
      yield* advance(4000)
      expect(yield* succeed(breaker)).toEqual(Exit.succeed("ok"))
      yield* expectState(breaker, "HalfOpen")
    }))

  itScoped("transitionToOpenStateFor is illegal from MetricsOnly", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      yield* breaker.transitionToMetricsOnly
      const error = yield* failureOf(breaker.transitionToOpenStateFor("1 second"))
      expect(error).toEqual(
        new CircuitBreaker.IllegalStateTransitionError({ breakerName: "test", from: "MetricsOnly", to: "Open" })
      )
    }))

  itScoped(
    "transitionToOpenStateFor with automatic transition fires after that duration",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker({ automaticTransitionFromOpenToHalfOpenEnabled: true })
        yield* breaker.transitionToOpenStateFor("2 seconds")
        yield* advance(1999)
        yield* expectState(breaker, "Open")
        yield* advance(1)
        yield* expectState(breaker, "HalfOpen")
      })
  )

  itScoped("reset from Open: a fresh Closed state, a transition and a Reset event", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      const { events } = yield* recordEvents(breaker)
      yield* tripOpen(breaker)
      yield* succeed(breaker) // refused
      yield* advance(1234)
      yield* breaker.reset
      yield* expectState(breaker, "Closed")
      expect(yield* breaker.metrics).toMatchObject({
        failureRate: -1,
        numberOfBufferedCalls: 0,
        numberOfFailedCalls: 0,
        numberOfNotPermittedCalls: 0
      })
      const tail = (yield* events).slice(-2)
      expect(tail).toHaveLength(2)
      expect(tail).toContainEqual(
        CircuitBreaker.Event.StateTransition({ breakerName: "test", at: 1234, from: "Open", to: "Closed" })
      )
      expect(tail).toContainEqual(CircuitBreaker.Event.Reset({ breakerName: "test", at: 1234 }))
      expect(yield* succeed(breaker)).toEqual(Exit.succeed("ok"))
    }))

  // Regression: Reset was once offered while the effect was being built, before the transition.
  // Resilience4j publishes the transition first, then Reset.
  itScoped("reset publishes the transition to Closed before Reset", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      yield* breaker.transitionToOpen
      const { names } = yield* recordEvents(breaker)
      yield* breaker.reset
      expect(yield* names).toEqual(["Open->Closed", "Reset"])
    }))

  itScoped("reset from Closed clears the window and publishes only Reset", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      yield* repeat(3, fail(breaker))
      const { names } = yield* recordEvents(breaker)
      yield* breaker.reset
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(0)
      expect(yield* names).toEqual(["Reset"])
      yield* fail(breaker) // had the three failures been kept, this would open it
      yield* expectState(breaker, "Closed")
    }))

  itScoped("reset forgets the consecutive openings of a backing-off wait", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ waitDurationInOpenState: Schedule.exponential("1 second") })
      yield* breaker.transitionToOpen // 1st opening: 1 s
      yield* advance(1000)
      yield* fail(breaker) // trial call in HalfOpen
      yield* fail(breaker) // HalfOpen -> Open, 2nd opening: 2 s
      expect(Option.map(refusalOf(yield* succeed(breaker)).retryAfter, millisOf)).toEqual(Option.some(2000))
      yield* breaker.reset
      yield* breaker.transitionToOpen
      expect(Option.map(refusalOf(yield* succeed(breaker)).retryAfter, millisOf)).toEqual(Option.some(1000))
    }))
})

// ---- Disabled, ForcedOpen, MetricsOnly -----------------------------------------------------------

describe("Disabled", () => {
  itScoped("permits everything, records nothing and publishes no call events", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      const { names } = yield* recordEvents(breaker)
      yield* breaker.transitionToDisabled
      const runs = yield* Ref.make(0)
      yield* repeat(20, guarded(breaker, Effect.andThen(Ref.update(runs, (n) => n + 1), Effect.fail("boom"))))
      yield* timed(breaker, 5000, Effect.succeed("slow"))
      yield* expectState(breaker, "Disabled")
      expect(yield* Ref.get(runs)).toBe(20)
      expect(yield* breaker.metrics).toMatchObject({
        numberOfBufferedCalls: 0,
        numberOfFailedCalls: 0,
        numberOfNotPermittedCalls: 0,
        failureRate: -1
      })
      expect(yield* names).toEqual(["Closed->Disabled"])
    }))
})

describe("ForcedOpen", () => {
  itScoped(
    "refuses everything, counts the refusals and publishes no CallNotPermitted events",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker({ automaticTransitionFromOpenToHalfOpenEnabled: true })
        const { names } = yield* recordEvents(breaker)
        yield* breaker.transitionToForcedOpen
        const runs = yield* Ref.make(0)
        const exits = yield* Effect.all(
          Array.from({ length: 3 }, () => guarded(breaker, Ref.updateAndGet(runs, (n) => n + 1)))
        )
        const refusal = refusalOf(exits[0]!)
        expect(exits.every(isRefusal)).toBe(true)
        expect(refusal.state).toBe("ForcedOpen")
        expect(refusal.retryAfter).toEqual(Option.none())
        expect(refusal.message).toBe("CircuitBreaker 'test' is ForcedOpen and does not permit further calls")
        expect(yield* Ref.get(runs)).toBe(0)
        expect((yield* breaker.metrics).numberOfNotPermittedCalls).toBe(3)
        yield* advance(Duration.toMillis("1 hour"))
        yield* expectState(breaker, "ForcedOpen")
        expect(isRefusal(yield* succeed(breaker))).toBe(true)
        expect(yield* names).toEqual(["Closed->ForcedOpen"])
      })
  )
})

describe("MetricsOnly", () => {
  itScoped(
    "records and publishes call events, never transitions, reports an exceeded rate once",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker()
        yield* breaker.transitionToMetricsOnly
        const { names } = yield* recordEvents(breaker)
        yield* repeat(10, fail(breaker))
        yield* succeed(breaker)
        yield* advance(Duration.toMillis("1 hour"))
        yield* expectState(breaker, "MetricsOnly")
        expect(yield* breaker.metrics).toMatchObject({
          numberOfBufferedCalls: 4,
          numberOfFailedCalls: 3,
          failureRate: 75
        })
        const seen = yield* names
        expect(seen.filter((n) => n.startsWith("FailureRateExceeded"))).toEqual(["FailureRateExceeded(100)"])
        expect(seen.slice(0, 5)).toEqual([
          "Error(Failure)",
          "Error(Failure)",
          "Error(Failure)",
          "Error(Failure)",
          "FailureRateExceeded(100)"
        ])
        expect(seen.filter((n) => n === "Error(Failure)")).toHaveLength(10)
        expect(seen.at(-1)).toBe("Success")
        expect(seen.some((n) => n.includes("->"))).toBe(false)
      })
  )

  itScoped("reports an exceeded slow-call rate once", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ slowCallDurationThreshold: "1 second", slowCallRateThreshold: 50 })
      yield* breaker.transitionToMetricsOnly
      const { names } = yield* recordEvents(breaker)
      yield* repeat(8, timed(breaker, 2000, Effect.succeed("slow")))
      yield* expectState(breaker, "MetricsOnly")
      expect((yield* names).filter((n) => n.startsWith("SlowCallRateExceeded"))).toEqual(["SlowCallRateExceeded(100)"])
      expect((yield* breaker.metrics).slowCallRate).toBe(100)
    }))

  itScoped(
    "reports each rate once, independently: a slow-call rate after a failure rate",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker({ slowCallDurationThreshold: "1 second", slowCallRateThreshold: 50 })
        yield* breaker.transitionToMetricsOnly
        const { names } = yield* recordEvents(breaker)
        yield* repeat(4, fail(breaker))
        yield* repeat(4, timed(breaker, 2000, Effect.succeed("slow")))
        const exceeded = (yield* names).filter((n) => n.includes("Exceeded"))
        expect(exceeded).toEqual(["FailureRateExceeded(100)", "SlowCallRateExceeded(50)"]) // 2 slow of 4 buffered
      })
  )

  itScoped("refuses a transition to Open or HalfOpen, allows Closed", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      yield* breaker.transitionToMetricsOnly
      yield* repeat(2, fail(breaker))
      expect((yield* failureOf(breaker.transitionToOpen)).to).toBe("Open")
      expect((yield* failureOf(breaker.transitionToHalfOpen)).to).toBe("HalfOpen")
      expect((yield* breaker.metrics).numberOfFailedCalls).toBe(2)
      yield* breaker.transitionToClosed
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(0)
    }))
})

// ---- wait duration as a Schedule -----------------------------------------------------------------

describe("waitDurationInOpenState as a Schedule", () => {
  const retryAfterMillis = (breaker: Breaker) =>
    Effect.map(succeed(breaker), (exit) => Option.getOrThrow(Option.map(refusalOf(exit).retryAfter, millisOf)))

  itScoped("backs off per consecutive opening and restarts once the breaker closes", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({
        waitDurationInOpenState: Schedule.exponential("1 second"),
        permittedNumberOfCallsInHalfOpenState: 1
      })
      yield* tripOpen(breaker)
      expect(yield* retryAfterMillis(breaker)).toBe(1000)
      yield* advance(1000)
      yield* fail(breaker) // the trial fails: 2nd consecutive opening
      yield* expectState(breaker, "Open")
      expect(yield* retryAfterMillis(breaker)).toBe(2000)
      yield* advance(1999)
      expect(isRefusal(yield* succeed(breaker))).toBe(true)
      yield* advance(1)
      yield* fail(breaker) // 3rd
      expect(yield* retryAfterMillis(breaker)).toBe(4000)
      yield* advance(4000)
      yield* succeed(breaker) // the trial succeeds: Closed, openings forgotten
      yield* expectState(breaker, "Closed")
      yield* tripOpen(breaker)
      expect(yield* retryAfterMillis(breaker)).toBe(1000)
    }))

  itScoped("keeps the last delay once the schedule is exhausted", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({
        waitDurationInOpenState: scheduleIntersect(Schedule.exponential("1 second"), Schedule.recurs(2)),
        permittedNumberOfCallsInHalfOpenState: 1
      })
      yield* breaker.transitionToOpen
      expect(yield* retryAfterMillis(breaker)).toBe(1000)
      yield* advance(1000)
      yield* fail(breaker)
      expect(yield* retryAfterMillis(breaker)).toBe(2000)
      yield* advance(2000)
      yield* fail(breaker)
      expect(yield* retryAfterMillis(breaker)).toBe(2000)
    }))

  itScoped("drives the automatic transition", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({
        waitDurationInOpenState: Schedule.exponential("1 second"),
        automaticTransitionFromOpenToHalfOpenEnabled: true,
        permittedNumberOfCallsInHalfOpenState: 1
      })
      yield* tripOpen(breaker)
      yield* advance(1000)
      yield* expectState(breaker, "HalfOpen")
      yield* fail(breaker)
      yield* advance(1999)
      yield* expectState(breaker, "Open")
      yield* advance(1)
      yield* expectState(breaker, "HalfOpen")
    }))

  itScoped("backs off when the half-open maximum wait sends the breaker back to Open", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({
        waitDurationInOpenState: Schedule.exponential("1 second"),
        maxWaitDurationInHalfOpenState: "5 seconds"
      })
      yield* breaker.transitionToOpen
      yield* advance(1000)
      yield* succeed(breaker) // HalfOpen, one trial of two
      yield* advance(5000)
      yield* expectState(breaker, "Open")
      expect(yield* retryAfterMillis(breaker)).toBe(2000)
    }))
})

// ---- TIME_BASED window ---------------------------------------------------------------------------

describe("TIME_BASED window", () => {
  const timeBased = { slidingWindowType: "TIME_BASED", slidingWindowSize: 10, minimumNumberOfCalls: 2 } as const

  itScoped("evicts a call exactly when its one-second bucket leaves the window", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker(timeBased)
      yield* advance(500) // epoch second 0
      yield* fail(breaker)
      yield* advance(9499) // t = 9.999 s: still inside the last 10 seconds
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(1)
      yield* advance(1) // t = 10 s: second 0 has left the window
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(0)
    }))

  itScoped("ages out bucket by bucket", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ ...timeBased, failureRateThreshold: 100 })
      yield* fail(breaker) // second 0
      yield* advance(1000)
      yield* repeat(2, succeed(breaker)) // second 1
      yield* advance(2000)
      yield* succeed(breaker) // second 3
      expect(yield* breaker.metrics).toMatchObject({
        numberOfBufferedCalls: 4,
        numberOfFailedCalls: 1,
        failureRate: 25
      })
      yield* advance(7000) // t = 10 s
      expect(yield* breaker.metrics).toMatchObject({ numberOfBufferedCalls: 3, numberOfFailedCalls: 0, failureRate: 0 })
      yield* advance(1000) // t = 11 s
      expect(yield* breaker.metrics).toMatchObject({ numberOfBufferedCalls: 1, failureRate: -1 })
      yield* advance(2000) // t = 13 s
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(0)
    }))

  itScoped("lets rates decay with no traffic", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ ...timeBased, failureRateThreshold: 100 })
      yield* fail(breaker)
      yield* succeed(breaker)
      expect((yield* breaker.metrics).failureRate).toBe(50)
      yield* advance(Duration.toMillis("1 hour"))
      expect(yield* breaker.metrics).toMatchObject({
        failureRate: -1,
        numberOfBufferedCalls: 0,
        numberOfFailedCalls: 0
      })
      yield* fail(breaker) // the old failure is gone: one failure is below the minimum
      yield* expectState(breaker, "Closed")
    }))

  itScoped("opens on failures spread over several seconds of the window", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ ...timeBased, minimumNumberOfCalls: 3, failureRateThreshold: 100 })
      yield* fail(breaker)
      yield* advance(4000)
      yield* fail(breaker)
      yield* advance(5999) // t = 9.999 s: the first failure is still inside
      yield* fail(breaker)
      yield* expectState(breaker, "Open")
    }))

  itScoped("does not open when the earliest failure has just aged out", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ ...timeBased, minimumNumberOfCalls: 3, failureRateThreshold: 100 })
      yield* fail(breaker)
      yield* advance(4000)
      yield* fail(breaker)
      yield* advance(6000) // t = 10 s
      yield* fail(breaker)
      yield* expectState(breaker, "Closed")
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(2)
    }))
})

// ---- classification ------------------------------------------------------------------------------

interface HttpError {
  readonly status: number
}

describe("classification", () => {
  const httpFail = (breaker: CircuitBreaker.CircuitBreaker<HttpError, unknown>, status: number) =>
    guarded(breaker, Effect.fail<HttpError>({ status }))

  itScoped("recordError: errors it rejects count as successes", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker<HttpError>({ recordError: (e) => e.status >= 500 })
      const { names } = yield* recordEvents(breaker)
      yield* repeat(4, httpFail(breaker, 404))
      yield* expectState(breaker, "Closed")
      expect(yield* breaker.metrics).toMatchObject({ numberOfBufferedCalls: 4, numberOfFailedCalls: 0 })
      expect(yield* names).toEqual(["Success", "Success", "Success", "Success"])
      yield* repeat(4, httpFail(breaker, 503))
      yield* expectState(breaker, "Open")
    }))

  itScoped(
    "ignoreError: nothing recorded, an IgnoredError event, and it wins over recordError",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker<HttpError>({
          recordError: () => true,
          ignoreError: (e) => e.status === 404
        })
        const { events } = yield* recordEvents(breaker)
        const exit = yield* httpFail(breaker, 404)
        expect(exit).toEqual(Exit.fail({ status: 404 }))
        yield* repeat(9, httpFail(breaker, 404))
        yield* expectState(breaker, "Closed")
        expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(0)
        const seen = yield* events
        expect(seen).toHaveLength(10)
        expect(seen[0]).toEqual(
          CircuitBreaker.Event.IgnoredError({
            breakerName: "test",
            at: 0,
            duration: Duration.zero,
            error: { status: 404 }
          })
        )
      })
  )

  itScoped("an ignored trial call gives its half-open permit back", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker<HttpError>({
        ignoreError: (e) => e.status === 404,
        permittedNumberOfCallsInHalfOpenState: 1
      })
      yield* toHalfOpen(breaker)
      yield* httpFail(breaker, 404)
      yield* httpFail(breaker, 404)
      yield* expectState(breaker, "HalfOpen")
      expect(yield* breaker.metrics).toMatchObject({ numberOfBufferedCalls: 0, numberOfNotPermittedCalls: 0 })
      expect(yield* guarded(breaker, Effect.succeed("recovered"))).toEqual(Exit.succeed("recovered"))
      yield* expectState(breaker, "Closed")
    }))

  itScoped(
    "recordResult: a success value counts as a failure, reported as an Error of kind Result",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker<unknown, { readonly body: string }>({
          recordResult: (response) => response.body === ""
        })
        const { events } = yield* recordEvents(breaker)
        const empty = { body: "" }
        const exit = yield* guarded(breaker, Effect.succeed(empty))
        expect(exit).toEqual(Exit.succeed(empty)) // the caller still gets its value
        yield* guarded(breaker, Effect.succeed({ body: "fine" }))
        expect(yield* breaker.metrics).toMatchObject({ numberOfFailedCalls: 1, numberOfSuccessfulCalls: 1 })
        expect((yield* events)[0]).toEqual(
          CircuitBreaker.Event.Error({
            breakerName: "test",
            at: 0,
            duration: Duration.zero,
            error: empty,
            kind: "Result"
          })
        )
        yield* repeat(3, guarded(breaker, Effect.succeed(empty)))
        yield* expectState(breaker, "Open")
      })
  )

  itScoped("defects are failures, whatever recordError says", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ recordError: () => false })
      const { events } = yield* recordEvents(breaker)
      const defect = new Error("bug")
      const exit = yield* guarded(breaker, Effect.die(defect))
      expect(exit).toEqual(Exit.die(defect))
      expect((yield* events)[0]).toEqual(
        CircuitBreaker.Event.Error({
          breakerName: "test",
          at: 0,
          duration: Duration.zero,
          error: defect,
          kind: "Defect"
        })
      )
      yield* repeat(3, guarded(breaker, Effect.die(defect)))
      yield* expectState(breaker, "Open")
    }))

  itScoped("interruption records nothing and publishes no call event", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      const { names } = yield* recordEvents(breaker)
      const fiber = yield* forkChild(guarded(breaker, Effect.never))
      yield* settle
      yield* Fiber.interrupt(fiber)
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(0)
      expect(yield* names).toEqual([])
    }))

  itScoped("interrupting a half-open trial call frees its permit", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ permittedNumberOfCallsInHalfOpenState: 1 })
      yield* tripOpen(breaker)
      yield* advance(10_000)
      const trial = yield* forkChild(guarded(breaker, Effect.never))
      yield* settle
      yield* expectState(breaker, "HalfOpen")
      expect(isRefusal(yield* succeed(breaker))).toBe(true) // the only permit is taken
      yield* Fiber.interrupt(trial)
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(0)
      expect(yield* succeed(breaker, "next trial")).toEqual(Exit.succeed("next trial"))
      yield* expectState(breaker, "Closed")
    }))

  itScoped("a trial call that fails or dies also releases its permit (it decides)", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ permittedNumberOfCallsInHalfOpenState: 1 })
      yield* toHalfOpen(breaker)
      yield* guarded(breaker, Effect.die("bug"))
      yield* expectState(breaker, "Open")
      yield* advance(10_000)
      yield* succeed(breaker)
      yield* expectState(breaker, "Closed")
    }))
})

// ---- events, stateChanges, metrics ---------------------------------------------------------------

describe("events", () => {
  itScoped("tell the whole story, in order, with names, times and durations", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ name: "orders", permittedNumberOfCallsInHalfOpenState: 1 })
      const { events } = yield* recordEvents(breaker)
      yield* timed(breaker, 250, Effect.succeed("ok")) // t = 0 .. 250
      yield* repeat(3, fail(breaker)) // t = 250
      yield* succeed(breaker) // refused
      yield* advance(10_000) // t = 10 250
      yield* succeed(breaker) // trial, closes
      yield* breaker.reset
      const E = CircuitBreaker.Event
      expect(yield* events).toEqual([
        E.Success({ breakerName: "orders", at: 250, duration: Duration.millis(250) }),
        E.Error({ breakerName: "orders", at: 250, duration: Duration.zero, error: "boom", kind: "Failure" }),
        E.Error({ breakerName: "orders", at: 250, duration: Duration.zero, error: "boom", kind: "Failure" }),
        E.Error({ breakerName: "orders", at: 250, duration: Duration.zero, error: "boom", kind: "Failure" }),
        E.FailureRateExceeded({ breakerName: "orders", at: 250, failureRate: 75 }),
        E.StateTransition({ breakerName: "orders", at: 250, from: "Closed", to: "Open" }),
        E.CallNotPermitted({ breakerName: "orders", at: 250, state: "Open" }),
        E.StateTransition({ breakerName: "orders", at: 10_250, from: "Open", to: "HalfOpen" }),
        E.Success({ breakerName: "orders", at: 10_250, duration: Duration.zero }),
        E.StateTransition({ breakerName: "orders", at: 10_250, from: "HalfOpen", to: "Closed" }),
        E.Reset({ breakerName: "orders", at: 10_250 })
      ])
    }))

  itScoped("reach every subscriber, from the moment it subscribes", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      const early = yield* recordEvents(breaker)
      yield* succeed(breaker)
      const late = yield* recordEvents(breaker)
      yield* fail(breaker)
      expect(yield* early.names).toEqual(["Success", "Error(Failure)"])
      expect(yield* late.names).toEqual(["Error(Failure)"])
    }))

  itScoped("can be taken with Stream.take", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      const fiber = yield* forkChild(Stream.runCollect(Stream.take(breaker.events, 2)))
      yield* settle
      yield* succeed(breaker)
      yield* breaker.transitionToForcedOpen
      const taken = Array.from(yield* Fiber.join(fiber)).map(show)
      expect(taken).toEqual(["Success", "Closed->ForcedOpen"])
    }))

  // Resilience4j checks the current state when it publishes: a call admitted in Closed that completes
  // after the switch publishes nothing, whether it succeeded or failed.
  itScoped(
    "publish no call event for a call that completes after the breaker became ForcedOpen",
    () =>
      Effect.gen(function*() {
        const breaker = yield* makeBreaker()
        const { names } = yield* recordEvents(breaker)
        const gate = yield* Deferred.make<void>()
        const inFlight = yield* forkChild(
          Effect.all([
            guarded(breaker, Effect.as(Deferred.await(gate), "ok")),
            guarded(breaker, Effect.andThen(Deferred.await(gate), Effect.fail("boom")))
          ], { concurrency: "unbounded" })
        )
        yield* settle
        yield* breaker.transitionToForcedOpen
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(inFlight)
        expect(yield* names).toEqual(["Closed->ForcedOpen"])
      })
  )
})

describe("stateChanges", () => {
  itScoped("emits the current state, then every state the breaker moves to", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ automaticTransitionFromOpenToHalfOpenEnabled: true })
      yield* breaker.transitionToForcedOpen
      const fiber = yield* forkChild(Stream.runCollect(Stream.take(breaker.stateChanges, 5)))
      yield* settle
      yield* breaker.transitionToClosed
      yield* tripOpen(breaker)
      yield* breaker.transitionToOpen // same state: nothing
      yield* advance(10_000)
      yield* repeat(2, succeed(breaker))
      expect(Array.from(yield* Fiber.join(fiber))).toEqual(["ForcedOpen", "Closed", "Open", "HalfOpen", "Closed"])
    }))
})

describe("metrics", () => {
  itScoped("report every field with Resilience4j's names", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({
        slidingWindowSize: 10,
        minimumNumberOfCalls: 5,
        slowCallDurationThreshold: "100 millis",
        failureRateThreshold: 100
      })
      yield* succeed(breaker)
      yield* succeed(breaker)
      yield* timed(breaker, 101, Effect.succeed("slow"))
      yield* fail(breaker)
      yield* timed(breaker, 150, Effect.fail("slow boom"))
      expect(yield* breaker.metrics).toEqual({
        failureRate: 40,
        slowCallRate: 40,
        numberOfBufferedCalls: 5,
        numberOfFailedCalls: 2,
        numberOfSlowCalls: 2,
        numberOfSlowFailedCalls: 1,
        numberOfSlowSuccessfulCalls: 1,
        numberOfSuccessfulCalls: 3,
        numberOfNotPermittedCalls: 0,
        consecutiveOpenings: 0
      })
    }))
})

// ---- reconfigure ---------------------------------------------------------------------------------

describe("reconfigure", () => {
  itScoped("applies a new threshold from the next recorded call, keeping the window", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker({ failureRateThreshold: 100 })
      yield* repeat(3, fail(breaker))
      yield* succeed(breaker)
      yield* expectState(breaker, "Closed")
      yield* breaker.reconfigure({ failureRateThreshold: 50 })
      yield* expectState(breaker, "Closed") // nothing is re-evaluated until a call is recorded
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(4)
      yield* succeed(breaker) // fail fail ok ok = 50 %
      yield* expectState(breaker, "Open")
    }))

  itScoped("forgets a Closed window whose size changes", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      yield* repeat(3, fail(breaker))
      yield* breaker.reconfigure({ slidingWindowSize: 2, minimumNumberOfCalls: 2 })
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(0)
      yield* fail(breaker)
      yield* expectState(breaker, "Closed")
      yield* fail(breaker)
      yield* expectState(breaker, "Open")
    }))

  itScoped("rejects invalid changes with InvalidConfigError and changes nothing", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      yield* fail(breaker)
      const error = yield* failureOf(breaker.reconfigure({ failureRateThreshold: 0, slidingWindowSize: 1 }))
      expect(error).toBeInstanceOf(InvalidConfigError)
      expect(error.issues.map((i) => i.field)).toEqual(["failureRateThreshold"])
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(1) // the window size did not change
      yield* repeat(3, succeed(breaker))
      yield* expectState(breaker, "Closed") // 1 of 4 failed: 25 %, below the unchanged 50 %
    }))
})

// ---- API shape -----------------------------------------------------------------------------------

class PaymentsBreaker extends Service<PaymentsBreaker, CircuitBreaker.CircuitBreaker<HttpError, unknown>>()(
  "test/PaymentsBreaker"
) {}

describe("API", () => {
  itScoped("withCircuitBreaker is dual: data-first and pipeable", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      expect(yield* CircuitBreaker.withCircuitBreaker(Effect.succeed(1), breaker)).toBe(1)
      expect(yield* Effect.succeed(2).pipe(CircuitBreaker.withCircuitBreaker(breaker))).toBe(2)
      yield* Effect.fail("x").pipe(CircuitBreaker.withCircuitBreaker(breaker), Effect.ignore)
      yield* Effect.ignore(CircuitBreaker.withCircuitBreaker(Effect.fail("y"), breaker))
      expect(yield* breaker.metrics).toMatchObject({ numberOfBufferedCalls: 4, numberOfFailedCalls: 2 })
      yield* expectState(breaker, "Open")
    }))

  itScoped("policy(breaker) guards like withCircuitBreaker", () =>
    Effect.gen(function*() {
      const breaker = yield* makeBreaker()
      const guard = CircuitBreaker.policy(breaker)
      expect(yield* guard(Effect.succeed("via policy"))).toBe("via policy")
      yield* repeat(4, Effect.exit(guard(Effect.fail("boom"))))
      const refused = yield* Effect.exit(guard(Effect.succeed("never")))
      expect(refusalOf(refused).state).toBe("Open")
    }))

  it.effect("layer(tag, options) builds the breaker for a service tag", () =>
    Effect.gen(function*() {
      const breaker = yield* PaymentsBreaker
      expect(breaker.name).toBe("payments")
      yield* guarded(breaker, Effect.fail<HttpError>({ status: 404 }))
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(0) // ignored by the layer's options
    }).pipe(
      Effect.provide(
        CircuitBreaker.layer(PaymentsBreaker, { name: "payments", ignoreError: (e: HttpError) => e.status === 404 })
      )
    ))

  it.effect("layer fails with InvalidConfigError on bad options", () =>
    Effect.gen(function*() {
      const error = yield* failureOf(
        Layer.build(CircuitBreaker.layer(PaymentsBreaker, { name: "payments", slidingWindowSize: 0 })).pipe(
          Effect.scoped
        )
      )
      expect(error).toBeInstanceOf(InvalidConfigError)
    }))

  describe("layerConfig", () => {
    const useBreaker = Effect.gen(function*() {
      const breaker = yield* PaymentsBreaker
      yield* repeat(2, guarded(breaker, Effect.fail<HttpError>({ status: 500 })))
      return { name: breaker.name, state: yield* breaker.state, metrics: yield* breaker.metrics }
    })

    it.effect("reads the options from ConfigProvider.fromJson", () =>
      Effect.gen(function*() {
        const provider = configFromJson({
          payments: {
            failureRateThreshold: 100,
            slidingWindowSize: 2,
            minimumNumberOfCalls: 2,
            waitDurationInOpenState: "3 seconds",
            automaticTransitionFromOpenToHalfOpenEnabled: true
          }
        })
        const layer = CircuitBreaker.layerConfig(PaymentsBreaker, CircuitBreaker.config("payments"))
        const result = yield* Effect.gen(function*() {
          const used = yield* useBreaker
          yield* advance(3000)
          return { ...used, later: yield* Effect.flatMap(PaymentsBreaker, (b) => b.state) }
        }).pipe(Effect.provide(layer), withConfig(provider))
        expect(result).toMatchObject({ name: "payments", state: "Open", later: "HalfOpen" })
        expect(result.metrics).toMatchObject({ numberOfBufferedCalls: 2, failureRate: 100 })
      }))

    it.effect("reads the options from an environment-like provider (constant case)", () =>
      Effect.gen(function*() {
        const provider = configFromEnv({
          PAYMENTS_FAILURE_RATE_THRESHOLD: "100",
          PAYMENTS_SLIDING_WINDOW_SIZE: "2",
          PAYMENTS_MINIMUM_NUMBER_OF_CALLS: "2",
          PAYMENTS_SLIDING_WINDOW_TYPE: "COUNT_BASED"
        })
        const result = yield* useBreaker.pipe(
          Effect.provide(CircuitBreaker.layerConfig(PaymentsBreaker, CircuitBreaker.config("payments"))),
          withConfig(provider)
        )
        expect(result).toMatchObject({ name: "payments", state: "Open" })
      }))

    it.effect("uses the defaults for absent keys and adds the code-only options", () =>
      Effect.gen(function*() {
        const provider = configFromJson({ payments: { minimumNumberOfCalls: "2" } })
        const layer = CircuitBreaker.layerConfig(PaymentsBreaker, CircuitBreaker.config("payments"), {
          ignoreError: (e: HttpError) => e.status === 500
        })
        const result = yield* useBreaker.pipe(Effect.provide(layer), withConfig(provider))
        expect(result).toMatchObject({ state: "Closed", metrics: { numberOfBufferedCalls: 0 } })
      }))

    it.effect("fails with InvalidConfigError naming the bad field", () =>
      Effect.gen(function*() {
        const provider = configFromJson({
          payments: { failureRateThreshold: 150, slidingWindowType: "SIDEWAYS" }
        })
        const error = yield* failureOf(
          useBreaker.pipe(
            Effect.provide(CircuitBreaker.layerConfig(PaymentsBreaker, CircuitBreaker.config("payments"))),
            withConfig(provider)
          )
        )
        expect(error).toBeInstanceOf(InvalidConfigError)
        const invalid = error as InvalidConfigError
        expect(invalid.guardName).toBe("payments")
        expect(new Set(invalid.issues.map((i) => `${i.field}=${String(i.value)}`))).toEqual(
          new Set(["failureRateThreshold=150", "slidingWindowType=SIDEWAYS"])
        )
        expect(invalid.message).toContain("failureRateThreshold = 150")
      }))

    // Regression: configuration carries milliseconds as "3000"; they must read as `make`'s 3000 does.
    it.effect("reads durations given as milliseconds", () =>
      Effect.gen(function*() {
        const provider = configFromJson({
          payments: { minimumNumberOfCalls: 2, waitDurationInOpenState: 3000, maxWaitDurationInHalfOpenState: 5000 }
        })
        const result = yield* useBreaker.pipe(
          Effect.provide(CircuitBreaker.layerConfig(PaymentsBreaker, CircuitBreaker.config("payments"))),
          withConfig(provider)
        )
        expect(result.state).toBe("Open")
      }))

    it.effect("a value of the wrong kind is an InvalidConfigError naming the field, like any bad option", () =>
      Effect.gen(function*() {
        const provider = configFromJson({ payments: { slidingWindowSize: "lots" } })
        const error = yield* failureOf(
          useBreaker.pipe(
            Effect.provide(CircuitBreaker.layerConfig(PaymentsBreaker, CircuitBreaker.config("payments"))),
            withConfig(provider)
          )
        )
        expect(error).toBeInstanceOf(InvalidConfigError)
        expect((error as InvalidConfigError).issues.map((i) => [i.field, i.value])).toEqual([[
          "slidingWindowSize",
          "lots"
        ]])
      }))
  })
})

// ---- option validation ---------------------------------------------------------------------------

describe("make validation", () => {
  const issuesOf = (options: unknown) =>
    Effect.gen(function*() {
      const error = yield* failureOf(Effect.scoped(CircuitBreaker.make(options as CircuitBreaker.Options)))
      expect(error).toBeInstanceOf(InvalidConfigError)
      expect(error._tag).toBe("InvalidConfigError")
      expect(error.guard).toBe("CircuitBreaker")
      return error
    })

  it.effect("accepts a name alone and applies Resilience4j's defaults", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ name: "defaults" })
      yield* repeat(99, fail(breaker))
      expect((yield* breaker.metrics).failureRate).toBe(-1) // minimumNumberOfCalls 100
      yield* fail(breaker)
      yield* expectState(breaker, "Open") // failureRateThreshold 50
      expect(Option.map(refusalOf(yield* succeed(breaker)).retryAfter, millisOf)).toEqual(Option.some(60_000))
    }).pipe(Effect.scoped))

  it.effect("lists every offending field with its value", () =>
    Effect.gen(function*() {
      const error = yield* issuesOf({
        name: "bad",
        failureRateThreshold: 0,
        slowCallRateThreshold: 100.5,
        slidingWindowSize: 0,
        minimumNumberOfCalls: 0,
        permittedNumberOfCallsInHalfOpenState: 0,
        waitDurationInOpenState: -1,
        maxWaitDurationInHalfOpenState: "-5 seconds"
      })
      expect(error.guardName).toBe("bad")
      // In the order of the options Schema.
      expect(error.issues.map((i) => [i.field, i.value])).toEqual([
        ["failureRateThreshold", 0],
        ["slowCallRateThreshold", 100.5],
        ["slidingWindowSize", 0],
        ["minimumNumberOfCalls", 0],
        ["permittedNumberOfCallsInHalfOpenState", 0],
        ["maxWaitDurationInHalfOpenState", "-5 seconds"],
        ["waitDurationInOpenState", -1]
      ])
      for (const issue of error.issues) expect(issue.rule.length).toBeGreaterThan(0)
      expect(error.message).toContain("Invalid CircuitBreaker 'bad' configuration: ")
      expect(error.message).toContain("failureRateThreshold = 0: must be a percentage in (0, 100]")
      expect(error.message).toContain("waitDurationInOpenState = -1")
    }))

  it.effect.each(
    [
      ["failureRateThreshold", 101],
      ["failureRateThreshold", -5],
      ["slowCallRateThreshold", 0],
      ["slidingWindowSize", 2.5],
      ["slidingWindowSize", -1],
      ["minimumNumberOfCalls", 0],
      ["permittedNumberOfCallsInHalfOpenState", 0],
      ["slowCallDurationThreshold", 0],
      ["slowCallDurationThreshold", "0 nanos"],
      ["waitDurationInOpenState", 0],
      ["waitDurationInOpenState", "-1 seconds"],
      ["maxWaitDurationInHalfOpenState", -1],
      ["slidingWindowType", "SIDEWAYS"],
      ["transitionToStateAfterWaitDuration", "HalfOpen"],
      ["failureRateThreshold", "50"],
      ["automaticTransitionFromOpenToHalfOpenEnabled", "yes"],
      ["recordError", true],
      ["name", ""]
    ] as const
  )("rejects %s = %s", ([field, value]) =>
    Effect.gen(function*() {
      const error = yield* issuesOf({ ...base, [field]: value })
      expect(error.issues.length).toBeGreaterThan(0)
      for (const issue of error.issues) expect(issue).toMatchObject({ field, value })
      expect(error.message).toContain(`${field} = ${JSON.stringify(value)}: `)
    }).pipe(Effect.scoped))

  // Regression: a literal union once reported one issue per allowed literal, listing the field twice.
  it.effect("lists a field with a bad literal once", () =>
    Effect.gen(function*() {
      const error = yield* issuesOf({
        ...base,
        slidingWindowType: "SIDEWAYS",
        transitionToStateAfterWaitDuration: "HalfOpen"
      })
      expect(error.issues.map((i) => i.field)).toEqual(["slidingWindowType", "transitionToStateAfterWaitDuration"])
    }))

  it.effect("rejects unknown keys", () =>
    Effect.gen(function*() {
      const error = yield* issuesOf({ ...base, failureThreshold: 50 })
      expect(error.issues).toEqual([{ field: "failureThreshold", value: 50, rule: "is not a known option" }])
    }))

  it.effect("accepts the smallest legal values", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        name: "edges",
        failureRateThreshold: 100,
        slowCallRateThreshold: 0.001,
        slowCallDurationThreshold: Duration.nanos(1n),
        slidingWindowSize: 1,
        minimumNumberOfCalls: 1,
        permittedNumberOfCallsInHalfOpenState: 1,
        waitDurationInOpenState: 1,
        maxWaitDurationInHalfOpenState: 0
      })
      yield* expectState(breaker, "Closed")
    }).pipe(Effect.scoped))

  it.effect("starts nothing when the options are bad", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const exit = yield* Effect.exit(scopeProvide(CircuitBreaker.make({ name: "bad", slidingWindowSize: 0 }), scope))
      expect(Exit.isFailure(exit)).toBe(true)
      // Had anything been acquired (the event hub, a timer), the scope would hold its finalizer.
      expect(scopeFinalizers(scope)).toBe(0)
      yield* Scope.close(scope, Exit.succeed(undefined))
    }))
})

// ---- lifetime ------------------------------------------------------------------------------------

/**
 * Closes `scope` from another fiber and tells whether that finished without the clock moving; then
 * lets a whole hour pass so that a timer which refused to stop runs out and the test cannot hang.
 */
const closesPromptly = (scope: CloseableScope) =>
  Effect.gen(function*() {
    const closing = yield* forkChild(Scope.close(scope, Exit.succeed(undefined)))
    yield* settle
    const prompt = Option.isSome(yield* pollFiber(closing))
    yield* advance(Duration.toMillis("1 hour"))
    yield* Fiber.join(closing)
    return prompt
  })

const autoOptions = { automaticTransitionFromOpenToHalfOpenEnabled: true } as const

describe("scope", () => {
  it.effect("the automatic-transition timer started by a failing call ends with the breaker's scope", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const breaker = yield* scopeProvide(makeBreaker(autoOptions), scope)
      yield* tripOpen(breaker)
      expect(yield* closesPromptly(scope)).toBe(true)
      yield* expectState(breaker, "Open") // the timer never fired
    }))

  // Regression: timers forked from uninterruptible transitions inherited uninterruptibility, so closing
  // the scope waited out the whole wait and the timer still fired.
  it.effect("the timer started by a manual transition ends with the breaker's scope", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const breaker = yield* scopeProvide(makeBreaker(autoOptions), scope)
      yield* breaker.transitionToOpen
      const prompt = yield* closesPromptly(scope)
      const state = yield* breaker.state
      expect({ prompt, state }).toEqual({ prompt: true, state: "Open" })
    }))

  it.effect("the half-open maximum-wait timer started by a trial call ends with the breaker's scope", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const breaker = yield* scopeProvide(makeBreaker({ maxWaitDurationInHalfOpenState: "5 seconds" }), scope)
      yield* tripOpen(breaker)
      yield* advance(10_000)
      yield* succeed(breaker) // Open -> HalfOpen on this call, which starts the timer
      yield* expectState(breaker, "HalfOpen")
      const prompt = yield* closesPromptly(scope)
      const state = yield* breaker.state
      expect({ prompt, state }).toEqual({ prompt: true, state: "HalfOpen" })
    }))

  it.effect("the event stream ends when the scope closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const breaker = yield* scopeProvide(makeBreaker(), scope)
      const fiber = yield* forkChild(Stream.runCollect(breaker.events))
      yield* settle
      yield* succeed(breaker)
      yield* Scope.close(scope, Exit.succeed(undefined))
      const exit = yield* Fiber.await(fiber)
      expect(Exit.isSuccess(exit) || isInterruptOnly(exit.cause)).toBe(true)
    }))
})
