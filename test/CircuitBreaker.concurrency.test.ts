/**
 * 10,000 concurrent fibers against one breaker: a half-open breaker admits exactly its permitted trial
 * calls (counted where they run, inside the guarded effect), refuses the rest with
 * `CallNotPermittedError`, and decides correctly once the trials complete; interrupted trial calls give
 * their permits back; a closed breaker records every one of 10,000 concurrent calls.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option } from "effect"
// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the ports.
import { failureOf, forkChild, type RunningFiber } from "#port"
import { TestClock, yieldNow } from "#test-port"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"

const FIBERS = 10_000
const PERMITTED = 5

interface Round {
  /** Calls whose effect actually ran. */
  readonly executed: () => number
  readonly refused: () => number
  /** Lets the admitted calls finish (each with the outcome `fails(i)` gives, i = admission order). */
  readonly release: Effect.Effect<void>
  readonly fiber: RunningFiber<ReadonlyArray<Exit.Exit<string, string | CircuitBreaker.CallNotPermittedError>>>
}

/**
 * Forks `FIBERS` calls through `breaker`; admitted calls block until `release` (or, with `sleep`, on a
 * TestClock sleep). Returns once every call has either started running or been refused.
 */
const round = (
  breaker: CircuitBreaker.CircuitBreaker<string, string>,
  options: { readonly fails?: (admission: number) => boolean; readonly sleep?: boolean } = {}
) =>
  Effect.gen(function*() {
    const gate = yield* Deferred.make<void>()
    const settled = yield* Deferred.make<void>()
    let executed = 0
    let refused = 0
    const settle = Effect.suspend(() =>
      executed + refused === FIBERS ? Deferred.succeed(settled, undefined) : Effect.succeed(false)
    )
    const call = Effect.suspend(() => {
      const admission = executed++
      const outcome = options.fails?.(admission) ? Effect.fail("boom") : Effect.succeed("ok")
      const wait = options.sleep ? Effect.sleep("1 second") : Deferred.await(gate)
      return Effect.andThen(settle, Effect.andThen(wait, outcome))
    })
    const guarded = call.pipe(
      CircuitBreaker.withCircuitBreaker(breaker),
      Effect.tapErrorTag("CallNotPermittedError", () => Effect.andThen(Effect.sync(() => refused++), settle)),
      Effect.exit
    )
    const fiber = yield* forkChild(
      Effect.forEach(Array.from({ length: FIBERS }), () => guarded, { concurrency: "unbounded" })
    )
    yield* Deferred.await(settled)
    const round: Round = {
      executed: () => executed,
      refused: () => refused,
      release: options.sleep ? TestClock.adjust("1 second") : Deferred.succeed(gate, undefined),
      fiber
    }
    return round
  })

const halfOpenBreaker = (options: Partial<CircuitBreaker.Options<string, string>> = {}) =>
  Effect.gen(function*() {
    const breaker = yield* CircuitBreaker.make<string, string>({
      name: "concurrency",
      permittedNumberOfCallsInHalfOpenState: PERMITTED,
      minimumNumberOfCalls: PERMITTED,
      failureRateThreshold: 50,
      waitDurationInOpenState: "10 seconds",
      ...options
    })
    yield* breaker.transitionToOpen
    // The wait is over; the first of the concurrent callers moves the breaker to HalfOpen.
    yield* TestClock.adjust("10 seconds")
    expect(yield* breaker.state).toBe("Open")
    return breaker
  })

const countExits = (exits: ReadonlyArray<Exit.Exit<string, unknown>>) => {
  let ok = 0
  let failed = 0
  let refused = 0
  for (const exit of exits) {
    if (Exit.isSuccess(exit)) ok++
    else if (Option.getOrUndefined(failureOf(exit.cause)) instanceof CircuitBreaker.CallNotPermittedError) refused++
    else failed++
  }
  return { ok, failed, refused }
}

describe("CircuitBreaker under 10,000 concurrent fibers", () => {
  it.effect("a half-open breaker admits exactly the permitted trial calls, then closes", () =>
    Effect.gen(function*() {
      const breaker = yield* halfOpenBreaker()
      const r = yield* round(breaker)
      expect(r.executed()).toBe(PERMITTED)
      expect(r.refused()).toBe(FIBERS - PERMITTED)
      expect(yield* breaker.state).toBe("HalfOpen")
      expect((yield* breaker.metrics).numberOfNotPermittedCalls).toBe(FIBERS - PERMITTED)

      yield* r.release
      const exits = yield* Fiber.join(r.fiber)
      expect(countExits(exits)).toEqual({ ok: PERMITTED, failed: 0, refused: FIBERS - PERMITTED })
      expect(r.executed()).toBe(PERMITTED)
      expect(yield* breaker.state).toBe("Closed")
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(0)
    }).pipe(Effect.scoped))

  it.effect("trial calls blocked on a TestClock sleep: 3 of 5 failing (60% >= 50%) reopens", () =>
    Effect.gen(function*() {
      const breaker = yield* halfOpenBreaker()
      const r = yield* round(breaker, { sleep: true, fails: (i) => i < 3 })
      expect(r.executed()).toBe(PERMITTED)
      expect(r.refused()).toBe(FIBERS - PERMITTED)
      expect((yield* breaker.metrics).numberOfNotPermittedCalls).toBe(FIBERS - PERMITTED)

      yield* r.release
      const exits = yield* Fiber.join(r.fiber)
      expect(countExits(exits)).toEqual({ ok: 2, failed: 3, refused: FIBERS - PERMITTED })
      expect(yield* breaker.state).toBe("Open")
      // Open keeps the half-open window it opened with.
      const metrics = yield* breaker.metrics
      expect(metrics.failureRate).toBe(60)
      expect(metrics.numberOfBufferedCalls).toBe(PERMITTED)
      expect(metrics.numberOfFailedCalls).toBe(3)
    }).pipe(Effect.scoped))

  it.effect("2 of 5 failing (40% < 50%) closes", () =>
    Effect.gen(function*() {
      const breaker = yield* halfOpenBreaker()
      const r = yield* round(breaker, { fails: (i) => i % 2 === 1 })
      expect(r.executed()).toBe(PERMITTED)
      yield* r.release
      expect(countExits(yield* Fiber.join(r.fiber))).toEqual({ ok: 3, failed: 2, refused: FIBERS - PERMITTED })
      expect(yield* breaker.state).toBe("Closed")
    }).pipe(Effect.scoped))

  it.effect("the decision is made once min(minimumNumberOfCalls, permitted) trials completed", () =>
    Effect.gen(function*() {
      // minimumNumberOfCalls 2 < 5 permitted: the first two results decide; the other three are dropped.
      const breaker = yield* halfOpenBreaker({ minimumNumberOfCalls: 2 })
      const r = yield* round(breaker, { sleep: true, fails: () => true })
      expect(r.executed()).toBe(PERMITTED)
      yield* r.release
      expect(countExits(yield* Fiber.join(r.fiber))).toEqual({ ok: 0, failed: 5, refused: FIBERS - PERMITTED })
      expect(yield* breaker.state).toBe("Open")
      const metrics = yield* breaker.metrics
      expect(metrics.numberOfBufferedCalls).toBe(2)
      expect(metrics.numberOfFailedCalls).toBe(2)
    }).pipe(Effect.scoped))

  it.effect("interrupted trial calls give their permits back: a new round is admitted", () =>
    Effect.gen(function*() {
      const breaker = yield* halfOpenBreaker()
      const first = yield* round(breaker)
      expect(first.executed()).toBe(PERMITTED)
      yield* Fiber.interrupt(first.fiber)
      expect(yield* breaker.state).toBe("HalfOpen")
      expect((yield* breaker.metrics).numberOfBufferedCalls).toBe(0)

      const second = yield* round(breaker, { fails: () => true })
      expect(second.executed()).toBe(PERMITTED)
      expect(second.refused()).toBe(FIBERS - PERMITTED)
      expect((yield* breaker.metrics).numberOfNotPermittedCalls).toBe(2 * (FIBERS - PERMITTED))
      yield* second.release
      expect(countExits(yield* Fiber.join(second.fiber))).toEqual({ ok: 0, failed: 5, refused: FIBERS - PERMITTED })
      expect(first.executed()).toBe(PERMITTED)
      expect(yield* breaker.state).toBe("Open")
    }).pipe(Effect.scoped))

  it.effect("interrupting only some trial calls frees exactly their permits", () =>
    Effect.gen(function*() {
      const breaker = yield* halfOpenBreaker()
      const gate = yield* Deferred.make<void>()
      let executed = 0
      const blocked = Effect.suspend(() => {
        executed++
        return Effect.as(Deferred.await(gate), "ok")
      }).pipe(CircuitBreaker.withCircuitBreaker(breaker))
      // Two trial calls, admitted one after the other, then interrupted.
      const a = yield* forkChild(blocked)
      const b = yield* forkChild(blocked)
      yield* yieldNow
      expect(executed).toBe(2)
      yield* Fiber.interrupt(a)
      yield* Fiber.interrupt(b)
      // 5 permits again: 5 of 10,000 run.
      const r = yield* round(breaker)
      expect(r.executed()).toBe(PERMITTED)
      expect(executed).toBe(2)
      yield* r.release
      yield* Fiber.join(r.fiber)
      expect(yield* breaker.state).toBe("Closed")
    }).pipe(Effect.scoped))

  for (const slidingWindowType of ["COUNT_BASED", "TIME_BASED"] as const) {
    it.effect(`a closed breaker (${slidingWindowType}) records exactly 10,000 concurrent calls`, () =>
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make<string, string>({
          name: "closed",
          slidingWindowType,
          slidingWindowSize: slidingWindowType === "COUNT_BASED" ? 20_000 : 10,
          minimumNumberOfCalls: FIBERS,
          failureRateThreshold: 100,
          slowCallDurationThreshold: "500 millis"
        })
        // All 10,000 calls are in flight at once (each blocks on a gate); the fast ones are released
        // after 100 ms, the slow ones (every seventh) after 1 s. A third of them fail.
        const allStarted = yield* Deferred.make<void>()
        const fastDone = yield* Deferred.make<void>()
        const fastGate = yield* Deferred.make<void>()
        const slowGate = yield* Deferred.make<void>()
        const slow = Math.ceil(FIBERS / 7)
        let running = 0
        let maxRunning = 0
        let fastFinished = 0
        const call = (i: number) =>
          Effect.gen(function*() {
            running++
            maxRunning = Math.max(maxRunning, running)
            if (running === FIBERS) yield* Deferred.succeed(allStarted, undefined)
            yield* Deferred.await(i % 7 === 0 ? slowGate : fastGate)
            running--
            if (i % 3 === 0) return yield* Effect.fail("boom")
            return "ok"
          }).pipe(
            CircuitBreaker.withCircuitBreaker(breaker),
            Effect.exit,
            Effect.tap(() =>
              i % 7 !== 0 && ++fastFinished === FIBERS - slow ? Deferred.succeed(fastDone, undefined) : Effect.void
            )
          )
        const fiber = yield* forkChild(
          Effect.forEach(Array.from({ length: FIBERS }, (_, i) => i), call, { concurrency: "unbounded" })
        )
        yield* Deferred.await(allStarted)
        yield* TestClock.adjust("100 millis")
        yield* Deferred.succeed(fastGate, undefined)
        yield* Deferred.await(fastDone)
        yield* TestClock.adjust("900 millis")
        yield* Deferred.succeed(slowGate, undefined)
        const exits = yield* Fiber.join(fiber)
        expect(maxRunning).toBe(FIBERS)
        const failures = Math.ceil(FIBERS / 3)
        const slowFailed = Math.ceil(FIBERS / 21)
        expect(countExits(exits)).toEqual({ ok: FIBERS - failures, failed: failures, refused: 0 })
        expect(yield* breaker.state).toBe("Closed")
        expect(yield* breaker.metrics).toEqual({
          failureRate: (failures * 100) / FIBERS,
          slowCallRate: (slow * 100) / FIBERS,
          numberOfBufferedCalls: FIBERS,
          numberOfFailedCalls: failures,
          numberOfSlowCalls: slow,
          numberOfSlowFailedCalls: slowFailed,
          numberOfSlowSuccessfulCalls: slow - slowFailed,
          numberOfSuccessfulCalls: FIBERS - failures,
          numberOfNotPermittedCalls: 0,
          consecutiveOpenings: 0
        })
      }).pipe(Effect.scoped))
  }
})
