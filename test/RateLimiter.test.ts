import { defectOf, failureOf, forkChild, Service } from "#port"
import { configFromJson, isRunning, itScoped, TestClock, withConfig, yieldNow } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Option, Schedule, Stream } from "effect"
import type { InvalidConfigError } from "../src/errors/InvalidConfigError.js"
import * as RateLimiter from "../src/guards/RateLimiter.js"
import { memoryStore } from "./helpers/memoryStore.js"

// ---- helpers -------------------------------------------------------------------------------------

const now = Effect.clockWith((clock) => clock.currentTimeMillis)

/** Runs a call through the limiter and returns its Exit. */
const call = (limiter: RateLimiter.RateLimiter, permits = 1) =>
  Effect.exit(RateLimiter.withRateLimiter(Effect.succeed("ok"), limiter, { permits }))

/** Forks a call that records the Clock time at which it ran. */
const forkTimed = (limiter: RateLimiter.RateLimiter, permits = 1) =>
  forkChild(RateLimiter.withRateLimiter(now, limiter, { permits }))

const available = (limiter: RateLimiter.RateLimiter) => Effect.map(limiter.metrics, (m) => m.availablePermissions)

const refusal = (exit: Exit.Exit<unknown, unknown>): RateLimiter.RequestNotPermittedError => {
  const error = Exit.isFailure(exit) ? Option.getOrUndefined(failureOf(exit.cause)) : undefined
  if (error instanceof RateLimiter.RequestNotPermittedError) return error
  throw new Error(`expected a refusal, got ${String(exit)}`)
}

const retryAfterMillis = (error: RateLimiter.RequestNotPermittedError) =>
  Option.map(error.retryAfter, Duration.toMillis)

const configError = <A, R>(effect: Effect.Effect<A, InvalidConfigError, R>) => Effect.flip(effect)

// ---- Resilience4j semantics ----------------------------------------------------------------------

describe("RateLimiter (fixed window)", () => {
  itScoped("defaults follow Resilience4j: 50 permits per 500 ns, 5 s timeout", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ name: "defaults" })
      expect(limiter.name).toBe("defaults")
      expect(yield* available(limiter)).toBe(50)
      for (let i = 0; i < 50; i++) expect(Exit.isSuccess(yield* call(limiter))).toBe(true)
      expect(yield* available(limiter)).toBe(0)
      // The 51st waits for the next 500 ns cycle (well within 5 s)
      const fiber = yield* forkTimed(limiter)
      yield* TestClock.adjust(Duration.nanos(1000n))
      expect(Exit.isSuccess(yield* Fiber.await(fiber))).toBe(true)
    }))

  itScoped(
    "limitForPeriod permits per cycle, refreshed at each boundary measured from creation",
    () =>
      Effect.gen(function*() {
        yield* TestClock.adjust("250 millis") // creation is not at 0
        const limiter = yield* RateLimiter.make({
          name: "r",
          limitForPeriod: 2,
          limitRefreshPeriod: "1 second",
          timeoutDuration: 0
        })
        yield* TestClock.adjust("500 millis")
        expect(Exit.isSuccess(yield* call(limiter))).toBe(true)
        expect(Exit.isSuccess(yield* call(limiter))).toBe(true)
        const error = refusal(yield* call(limiter))
        expect(error.limiterName).toBe("r")
        expect(error.permits).toBe(1)
        expect(retryAfterMillis(error)).toEqual(Option.some(500)) // next cycle at 1250
        expect(error.message).toContain("RateLimiter 'r' does not permit further calls")
        yield* TestClock.adjust("500 millis")
        expect(yield* available(limiter)).toBe(2) // no accumulation beyond one period
        yield* TestClock.adjust("5 seconds")
        expect(yield* available(limiter)).toBe(2)
      })
  )

  itScoped("a caller waits exactly until its reserved permit's cycle", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ name: "w", limitForPeriod: 1, limitRefreshPeriod: "1 second" })
      expect(Exit.isSuccess(yield* call(limiter))).toBe(true)
      const first = yield* forkTimed(limiter)
      const second = yield* forkTimed(limiter)
      yield* yieldNow
      expect(yield* limiter.metrics).toEqual({ availablePermissions: -2, numberOfWaitingFibers: 2 })
      yield* TestClock.adjust("999 millis")
      expect(isRunning(first)).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(first)).toBe(1000)
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(second)).toBe(2000)
      expect((yield* limiter.metrics).numberOfWaitingFibers).toBe(0)
    }))

  itScoped(
    "reserves only when the wait fits the timeout; otherwise refuses at once with the wait",
    () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "t",
          limitForPeriod: 1,
          limitRefreshPeriod: "1 second",
          timeoutDuration: "1500 millis"
        })
        yield* call(limiter)
        const waiting = yield* forkTimed(limiter) // next cycle: 1000 ms away
        yield* yieldNow
        // The one after would need 2000 ms > 1500: refused now, reserving nothing.
        const error = refusal(yield* call(limiter))
        expect(retryAfterMillis(error)).toEqual(Option.some(2000))
        expect(yield* available(limiter)).toBe(-1)
        expect(yield* now).toBe(0)
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.join(waiting)).toBe(1000)
      })
  )

  itScoped("weighted acquisition; more than a cycle's permits is never granted", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ name: "wt", limitForPeriod: 5, limitRefreshPeriod: "1 second" })
      expect(Exit.isSuccess(yield* call(limiter, 3))).toBe(true)
      const heavy = yield* forkTimed(limiter, 3) // only 2 left: all 3 come from the next cycle
      yield* yieldNow
      expect(yield* available(limiter)).toBe(-1) // as Resilience4j's counter: 2 - 3
      const tooMany = refusal(yield* call(limiter, 6))
      expect(tooMany.retryAfter).toEqual(Option.none())
      expect(tooMany.permits).toBe(6)
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(heavy)).toBe(1000)
      expect(yield* available(limiter)).toBe(2)
    }))

  itScoped("tryAcquire never waits", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ name: "try", limitForPeriod: 2, limitRefreshPeriod: "1 second" })
      expect(yield* limiter.tryAcquire()).toBe(true)
      expect(yield* limiter.tryAcquire(2)).toBe(false)
      expect(yield* limiter.tryAcquire()).toBe(true)
      expect(yield* limiter.tryAcquire()).toBe(false)
      expect(yield* available(limiter)).toBe(0)
      expect((yield* limiter.metrics).numberOfWaitingFibers).toBe(0)
    }))

  itScoped("acquire waits within the timeout", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ name: "acq", limitForPeriod: 1, limitRefreshPeriod: "1 second" })
      yield* limiter.acquire()
      const fiber = yield* forkChild(limiter.acquire())
      yield* TestClock.adjust("1 second")
      expect(Exit.isSuccess(yield* Fiber.await(fiber))).toBe(true)
      const bad = yield* Effect.exit(limiter.acquire(0))
      expect(Exit.isFailure(bad) && Option.isSome(defectOf(bad.cause))).toBe(true)
    }))

  itScoped("drainPermissions empties the current cycle only", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        name: "d",
        limitForPeriod: 5,
        limitRefreshPeriod: "1 second",
        timeoutDuration: 0
      })
      yield* call(limiter, 2)
      yield* limiter.drainPermissions
      expect(yield* available(limiter)).toBe(0)
      expect(Exit.isFailure(yield* call(limiter))).toBe(true)
      yield* TestClock.adjust("1 second")
      expect(yield* available(limiter)).toBe(5)
    }))

  itScoped("changeLimitForPeriod applies from the next cycle", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        name: "c",
        limitForPeriod: 2,
        limitRefreshPeriod: "1 second",
        timeoutDuration: 0
      })
      yield* call(limiter)
      yield* limiter.changeLimitForPeriod(5)
      expect(yield* available(limiter)).toBe(1)
      yield* call(limiter)
      expect(Exit.isFailure(yield* call(limiter))).toBe(true)
      yield* TestClock.adjust("1 second")
      expect(yield* available(limiter)).toBe(5)
      yield* limiter.changeLimitForPeriod(1)
      expect(yield* available(limiter)).toBe(5)
      yield* TestClock.adjust("1 second")
      expect(yield* available(limiter)).toBe(1)
      const error = yield* configError(limiter.changeLimitForPeriod(0))
      expect(error.issues.map((i) => i.field)).toEqual(["limitForPeriod"])
    }))

  itScoped("changeTimeoutDuration applies to the next callers", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        name: "ct",
        limitForPeriod: 1,
        limitRefreshPeriod: "1 second",
        timeoutDuration: 0
      })
      yield* call(limiter)
      expect(Exit.isFailure(yield* call(limiter))).toBe(true)
      yield* limiter.changeTimeoutDuration("2 seconds")
      const fiber = yield* forkTimed(limiter)
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toBe(1000)
    }))

  itScoped("reconfigure changes settings in place and keeps state", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        name: "rc",
        limitForPeriod: 3,
        limitRefreshPeriod: "1 second",
        timeoutDuration: 0
      })
      yield* call(limiter, 2)
      // A new period starts where the current cycle ends (at 1000), then every 10 seconds.
      yield* limiter.reconfigure({ limitRefreshPeriod: "10 seconds", limitForPeriod: 4 })
      expect(yield* available(limiter)).toBe(1)
      yield* TestClock.adjust("1 second")
      expect(yield* available(limiter)).toBe(4)
      yield* call(limiter, 4)
      yield* TestClock.adjust("9999 millis")
      expect(yield* available(limiter)).toBe(0)
      yield* TestClock.adjust("1 millis")
      expect(yield* available(limiter)).toBe(4)
      // A new algorithm starts afresh.
      yield* limiter.reconfigure({ algorithm: "token-bucket", capacity: 7 })
      expect(yield* available(limiter)).toBe(7)
      // The name is fixed (a Registry files limiters by name): not a reconfigurable option.
      // @ts-expect-error name is not part of reconfigure's options
      yield* limiter.reconfigure({ name: "renamed" })
      expect(limiter.name).toBe("rc")
      const error = yield* configError(limiter.reconfigure({ timeoutDuration: -1, limitForPeriod: 1.5 }))
      expect(error.issues.map((i) => i.field).sort()).toEqual(["limitForPeriod", "timeoutDuration"])
    }))
})

describe("RateLimiter limit changes with reservations", () => {
  itScoped(
    "raising the limit: the next cycle, already reserved into, grants up to the new limit",
    () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "raise",
          limitForPeriod: 1,
          limitRefreshPeriod: "1 second",
          timeoutDuration: "10 seconds"
        })
        yield* limiter.acquire()
        const waiter = yield* forkTimed(limiter) // reserved in cycle 1
        yield* yieldNow
        yield* limiter.changeLimitForPeriod(10)
        expect(yield* limiter.metrics).toEqual({ availablePermissions: -1, numberOfWaitingFibers: 1 })
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.join(waiter)).toBe(1000)
        expect(yield* available(limiter)).toBe(9)
        let granted = 0
        for (let i = 0; i < 20; i++) if (yield* limiter.tryAcquire()) granted++
        expect(granted).toBe(9)
        yield* TestClock.adjust("1 second")
        expect(yield* available(limiter)).toBe(10)
      })
  )

  itScoped(
    "lowering the limit: reservations stand, newcomers queue after them at the new limit",
    () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "lower",
          limitForPeriod: 10,
          limitRefreshPeriod: "1 second",
          timeoutDuration: "10 seconds"
        })
        yield* limiter.acquire(10)
        const reserved = []
        for (let i = 0; i < 5; i++) reserved.push(yield* forkTimed(limiter)) // all in cycle 1
        yield* yieldNow
        yield* limiter.changeLimitForPeriod(2)
        expect(yield* limiter.metrics).toEqual({ availablePermissions: -5, numberOfWaitingFibers: 5 })
        const later = []
        for (let i = 0; i < 3; i++) later.push(yield* forkTimed(limiter))
        yield* yieldNow
        expect(yield* limiter.metrics).toEqual({ availablePermissions: -8, numberOfWaitingFibers: 8 })
        yield* TestClock.adjust("5 seconds")
        for (const fiber of reserved) expect(yield* Fiber.join(fiber)).toBe(1000) // granted under the old limit
        const times = []
        for (const fiber of later) times.push(yield* Fiber.join(fiber))
        expect(times).toEqual([2000, 2000, 3000]) // never more than 2 in a cycle after the change
        expect(yield* available(limiter)).toBe(2)
      })
  )
})

// ---- schedules ------------------------------------------------------------------------------------

describe("RateLimiter with a Schedule period", () => {
  itScoped("Schedule.fixed: cycles at each recurrence", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        name: "fixed",
        limitForPeriod: 2,
        limitRefreshPeriod: Schedule.fixed("1 second"),
        timeoutDuration: "1 second"
      })
      yield* call(limiter, 2)
      const waiting = yield* forkTimed(limiter)
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(waiting)).toBe(1000)
      expect(yield* available(limiter)).toBe(1)
      yield* TestClock.adjust("10500 millis") // idle across many boundaries
      expect(yield* available(limiter)).toBe(2)
      yield* call(limiter, 2)
      const waiting2 = yield* forkTimed(limiter, 2)
      yield* yieldNow
      const error = refusal(yield* call(limiter, 2))
      expect(retryAfterMillis(error)).toEqual(Option.some(1500)) // 12000 is taken by the first waiter
      yield* TestClock.adjust("500 millis")
      expect(yield* Fiber.join(waiting2)).toBe(12000)
    }))

  itScoped("Schedule.cron: 10,000 calls per day, reset at midnight UTC", () =>
    Effect.gen(function*() {
      const day = 24 * 60 * 60 * 1000
      yield* TestClock.setTime(15 * 60 * 60 * 1000) // 15:00 UTC on 1970-01-01
      const limiter = yield* RateLimiter.make({
        name: "quota",
        limitForPeriod: 10_000,
        limitRefreshPeriod: Schedule.cron("0 0 * * *"),
        timeoutDuration: 0
      })
      expect(Exit.isSuccess(yield* call(limiter, 9_999))).toBe(true)
      expect(Exit.isSuccess(yield* call(limiter))).toBe(true)
      const error = refusal(yield* call(limiter))
      expect(retryAfterMillis(error)).toEqual(Option.some(9 * 60 * 60 * 1000))
      yield* TestClock.adjust("9 hours")
      expect(yield* now).toBe(day)
      expect(yield* available(limiter)).toBe(10_000)
      yield* TestClock.adjust(`${3 * 24} hours`)
      expect(yield* limiter.tryAcquire(10_000)).toBe(true)
      expect(yield* limiter.tryAcquire()).toBe(false)
      yield* TestClock.adjust("1 day")
      expect(yield* limiter.tryAcquire()).toBe(true)
    }))

  itScoped(
    "a bad Schedule.cron expression: the call that steps it dies (a defect on both Effects)",
    () =>
      Effect.gen(function*() {
        // Effect 3's cron dies when stepped; Effect 4's fails with a CronParseError, which the port's
        // stepper turns into the same defect (the option takes either Effect's own Schedule type).
        const limiter = yield* RateLimiter.make({
          name: "bad-cron",
          limitForPeriod: 1,
          limitRefreshPeriod: Schedule.cron("not a cron"),
          timeoutDuration: 0
        })
        // The first cycle's permit needs no boundary; the next call asks the schedule for one.
        expect(Exit.isSuccess(yield* call(limiter))).toBe(true)
        const exit = yield* call(limiter)
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) {
          expect(Option.isNone(failureOf(exit.cause))).toBe(true)
          expect(String(Option.getOrUndefined(defectOf(exit.cause)))).toMatch(/segments/)
        }
      })
  )

  itScoped("old cycle boundaries are forgotten as the limiter moves on", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        name: "prune",
        limitForPeriod: 5,
        limitRefreshPeriod: Schedule.fixed("10 millis"),
        timeoutDuration: 0
      })
      for (let i = 0; i < 500; i++) {
        yield* limiter.tryAcquire()
        yield* TestClock.adjust("10 millis")
      }
      const held = (limiter as unknown as { core: { cycles: { starts: ReadonlyArray<number> } } }).core.cycles.starts
      expect(held.length).toBeLessThan(100)
      expect(yield* limiter.tryAcquire(5)).toBe(true)
      expect(yield* limiter.tryAcquire()).toBe(false)
    }))

  itScoped("a Schedule is only accepted with the fixed-window algorithm", () =>
    Effect.gen(function*() {
      const error = yield* configError(
        RateLimiter.make({ name: "x", algorithm: "token-bucket", limitRefreshPeriod: Schedule.spaced("1 second") })
      )
      expect(error.issues.map((i) => i.field)).toEqual(["limitRefreshPeriod"])
    }))
})

// ---- other algorithms ----------------------------------------------------------------------------

describe("RateLimiter algorithms", () => {
  itScoped("token-bucket: bursts up to capacity, then the refill rate", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        name: "tb",
        algorithm: "token-bucket",
        limitForPeriod: 1,
        limitRefreshPeriod: "100 millis",
        capacity: 10,
        timeoutDuration: 0
      })
      expect(Exit.isSuccess(yield* call(limiter, 10))).toBe(true) // a burst of 10 at once
      const error = refusal(yield* call(limiter))
      expect(retryAfterMillis(error)).toEqual(Option.some(100))
      yield* TestClock.adjust("350 millis")
      expect(yield* available(limiter)).toBe(3)
      yield* TestClock.adjust("1 hour")
      expect(yield* available(limiter)).toBe(10) // never more than capacity
      yield* limiter.changeTimeoutDuration("1 second")
      yield* call(limiter, 10)
      const waiting = yield* forkTimed(limiter, 2)
      yield* TestClock.adjust("200 millis")
      expect(yield* Fiber.join(waiting)).toBe(60 * 60 * 1000 + 350 + 200)
    }))

  itScoped("token-bucket capacity defaults to limitForPeriod and is validated", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ name: "tb", algorithm: "token-bucket", limitForPeriod: 4 })
      expect(yield* available(limiter)).toBe(4)
      const error = yield* configError(RateLimiter.make({ name: "fw", capacity: 3 }))
      expect(error.issues.map((i) => i.field)).toEqual(["capacity"])
    }))

  itScoped("sliding-window: no double burst at a window edge", () =>
    Effect.gen(function*() {
      const options = { limitForPeriod: 4, limitRefreshPeriod: "1 second", timeoutDuration: 0 } as const
      const fixed = yield* RateLimiter.make({ name: "fw", ...options })
      const sliding = yield* RateLimiter.make({ name: "sw", algorithm: "sliding-window", ...options })
      yield* TestClock.adjust("900 millis")
      yield* call(fixed, 4)
      yield* call(sliding, 4)
      yield* TestClock.adjust("100 millis")
      expect(Exit.isSuccess(yield* call(fixed, 4))).toBe(true) // 8 within 100 ms
      const error = refusal(yield* call(sliding))
      expect(retryAfterMillis(error)).toEqual(Option.some(900))
      yield* TestClock.adjust("900 millis")
      expect(yield* available(sliding)).toBe(4)
    }))

  itScoped("sliding-window waits for the oldest grants to leave the window", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        name: "sw",
        algorithm: "sliding-window",
        limitForPeriod: 3,
        limitRefreshPeriod: "1 second"
      })
      yield* call(limiter, 2)
      yield* TestClock.adjust("300 millis")
      yield* call(limiter)
      const waiting = yield* forkTimed(limiter, 2) // needs both of the first grants gone: at 1000
      yield* TestClock.adjust("700 millis")
      expect(yield* Fiber.join(waiting)).toBe(1000)
      expect(yield* available(limiter)).toBe(0)
      yield* limiter.drainPermissions
      yield* TestClock.adjust("300 millis")
      expect(yield* available(limiter)).toBe(1)
    }))
})

// ---- interruption --------------------------------------------------------------------------------

describe("RateLimiter interruption", () => {
  for (const algorithm of ["fixed-window", "token-bucket", "sliding-window"] as const) {
    itScoped(`${algorithm}: an interrupted waiter gives its reservation back`, () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "i",
          algorithm,
          limitForPeriod: 1,
          limitRefreshPeriod: "1 second"
        })
        yield* call(limiter)
        const waiter = yield* forkTimed(limiter)
        yield* TestClock.adjust("500 millis")
        expect(yield* available(limiter)).toBeLessThan(0)
        yield* Fiber.interrupt(waiter)
        expect(yield* limiter.metrics).toEqual({ availablePermissions: 0, numberOfWaitingFibers: 0 })
        yield* TestClock.adjust("500 millis")
        // The permit the interrupted fiber had reserved is free for the next caller, at once.
        expect(yield* limiter.tryAcquire()).toBe(true)
        expect(yield* limiter.tryAcquire()).toBe(false)
      }))
  }

  itScoped(
    "fixed-window: an interrupted waiter behind another gives its permit back to its own cycle",
    () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "i3",
          limitForPeriod: 1,
          limitRefreshPeriod: "1 second",
          timeoutDuration: "10 seconds"
        })
        yield* limiter.acquire() // A, cycle 0
        const b = yield* forkTimed(limiter) // cycle 1
        const c = yield* forkTimed(limiter) // cycle 2
        yield* yieldNow
        expect(yield* limiter.metrics).toEqual({ availablePermissions: -2, numberOfWaitingFibers: 2 })
        yield* Fiber.interrupt(b)
        expect(yield* limiter.metrics).toEqual({ availablePermissions: -1, numberOfWaitingFibers: 1 })
        const d = yield* forkTimed(limiter) // takes B's permit in cycle 1; C keeps its time
        yield* yieldNow
        yield* TestClock.adjust("5 seconds")
        expect(yield* Fiber.join(d)).toBe(1000)
        expect(yield* Fiber.join(c)).toBe(2000)
      })
  )

  itScoped(
    "fixed-window: a permit given back in a cycle still ahead is usable when that cycle comes",
    () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "i4",
          limitForPeriod: 1,
          limitRefreshPeriod: "1 second",
          timeoutDuration: "10 seconds"
        })
        yield* limiter.acquire()
        const b = yield* forkTimed(limiter)
        const c = yield* forkTimed(limiter)
        yield* yieldNow
        yield* Fiber.interrupt(b)
        yield* TestClock.adjust("1 second")
        expect(yield* limiter.tryAcquire()).toBe(true)
        expect(yield* limiter.tryAcquire()).toBe(false)
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.join(c)).toBe(2000)
        expect(yield* limiter.metrics).toEqual({ availablePermissions: 0, numberOfWaitingFibers: 0 })
      })
  )

  itScoped(
    "token-bucket: once the last waiter is interrupted, newcomers no longer queue behind it",
    () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "i5",
          algorithm: "token-bucket",
          limitForPeriod: 1,
          limitRefreshPeriod: "1 second",
          capacity: 10,
          timeoutDuration: "20 seconds"
        })
        yield* limiter.acquire(10)
        const heavy = yield* forkTimed(limiter, 10) // at 10000
        yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(heavy)
        expect(yield* limiter.metrics).toEqual({ availablePermissions: 1, numberOfWaitingFibers: 0 })
        expect(yield* limiter.tryAcquire()).toBe(true)
        const next = yield* forkTimed(limiter)
        yield* TestClock.adjust("10 seconds")
        expect(yield* Fiber.join(next)).toBe(2000)
      })
  )

  itScoped(
    "token-bucket: an interrupted waiter between two gives its tokens back; order is kept",
    () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "i6",
          algorithm: "token-bucket",
          limitForPeriod: 1,
          limitRefreshPeriod: "1 second",
          capacity: 1,
          timeoutDuration: "20 seconds"
        })
        yield* limiter.acquire()
        const b = yield* forkTimed(limiter) // 1000
        const c = yield* forkTimed(limiter) // 2000
        yield* yieldNow
        yield* Fiber.interrupt(b)
        expect(yield* limiter.metrics).toEqual({ availablePermissions: -1, numberOfWaitingFibers: 1 })
        const d = yield* forkTimed(limiter) // after C (in order), with B's token: 2000, not 3000
        yield* TestClock.adjust("10 seconds")
        expect(yield* Fiber.join(c)).toBe(2000)
        expect(yield* Fiber.join(d)).toBe(2000)
      })
  )

  itScoped("sliding-window: once the last waiter is interrupted, its place is free", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        name: "i7",
        algorithm: "sliding-window",
        limitForPeriod: 5,
        limitRefreshPeriod: "1 second",
        timeoutDuration: "10 seconds"
      })
      yield* limiter.acquire()
      const heavy = yield* forkTimed(limiter, 5) // at 1000, when the first grant leaves the window
      yield* TestClock.adjust("100 millis")
      yield* Fiber.interrupt(heavy)
      expect(yield* limiter.metrics).toEqual({ availablePermissions: 4, numberOfWaitingFibers: 0 })
      expect(yield* limiter.tryAcquire(4)).toBe(true)
      expect(yield* limiter.tryAcquire()).toBe(false)
    }))

  itScoped(
    "sliding-window: an interrupted waiter between two gives its permits back to newcomers",
    () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "i8",
          algorithm: "sliding-window",
          limitForPeriod: 1,
          limitRefreshPeriod: "1 second",
          timeoutDuration: "10 seconds"
        })
        yield* limiter.acquire()
        const b = yield* forkTimed(limiter) // 1000
        const c = yield* forkTimed(limiter) // 2000
        yield* yieldNow
        yield* Fiber.interrupt(b)
        expect(yield* limiter.metrics).toEqual({ availablePermissions: -1, numberOfWaitingFibers: 1 })
        const d = yield* forkTimed(limiter)
        yield* yieldNow
        yield* TestClock.adjust("10 seconds")
        expect(yield* Fiber.join(c)).toBe(2000)
        expect(yield* Fiber.join(d)).toBeLessThanOrEqual(3000)
      })
  )

  itScoped("a call interrupted after its permit was granted keeps it (the call started)", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ name: "i2", limitForPeriod: 1, limitRefreshPeriod: "1 second" })
      const fiber = yield* forkChild(RateLimiter.withRateLimiter(Effect.never, limiter))
      yield* yieldNow
      yield* Fiber.interrupt(fiber)
      expect(yield* available(limiter)).toBe(0)
    }))
})

// ---- events --------------------------------------------------------------------------------------

describe("RateLimiter events", () => {
  itScoped("SuccessfulAcquire, FailedAcquire, Drained with name, time and permits", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        name: "ev",
        limitForPeriod: 3,
        limitRefreshPeriod: "1 second",
        timeoutDuration: 0
      })
      const collected = yield* limiter.events.pipe(Stream.take(4), Stream.runCollect, forkChild)
      yield* TestClock.adjust(0) // lets the subscriber subscribe
      yield* TestClock.adjust("10 millis")
      yield* call(limiter, 2)
      yield* call(limiter, 2)
      yield* limiter.drainPermissions
      expect(yield* limiter.tryAcquire()).toBe(false)
      const events = Array.from(yield* Fiber.join(collected))
      expect(events).toEqual([
        RateLimiter.Event.SuccessfulAcquire({ limiterName: "ev", at: 10, permits: 2 }),
        RateLimiter.Event.FailedAcquire({ limiterName: "ev", at: 10, permits: 2 }),
        RateLimiter.Event.Drained({ limiterName: "ev", at: 10, permits: 1 }),
        RateLimiter.Event.FailedAcquire({ limiterName: "ev", at: 10, permits: 1 })
      ])
    }))

  itScoped("a waiter's SuccessfulAcquire is published when it proceeds", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ name: "ev", limitForPeriod: 1, limitRefreshPeriod: "1 second" })
      const collected = yield* limiter.events.pipe(Stream.take(2), Stream.runCollect, forkChild)
      yield* TestClock.adjust(0)
      yield* call(limiter)
      const waiter = yield* forkTimed(limiter)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(waiter)
      const events = Array.from(yield* Fiber.join(collected))
      expect(events.map((e) => e.at)).toEqual([0, 1000])
    }))
})

// ---- keyed ---------------------------------------------------------------------------------------

describe("RateLimiter.keyed", () => {
  itScoped("one limiter per key", () =>
    Effect.gen(function*() {
      const keyed = yield* RateLimiter.keyed<string>({
        name: "tenant",
        limitForPeriod: 1,
        limitRefreshPeriod: "1 second",
        timeoutDuration: 0
      })
      const run = (key: string) => Effect.exit(Effect.succeed(key).pipe(keyed.withRateLimiter(key)))
      expect(Exit.isSuccess(yield* run("a"))).toBe(true)
      expect(Exit.isSuccess(yield* run("b"))).toBe(true)
      const error = refusal(yield* run("a"))
      expect(error.limiterName).toBe("tenant:a")
      const limiter = yield* keyed.get("a")
      expect(yield* available(limiter)).toBe(0)
    }))

  itScoped(
    "the bound on keys holds: a new key evicts the least recently used idle one; idle keys expire",
    () =>
      Effect.gen(function*() {
        const keyed = yield* RateLimiter.keyed<number>({
          name: "ip",
          limitForPeriod: 5,
          limitRefreshPeriod: "1 second",
          maxKeys: 3,
          idleTimeToLive: "1 minute"
        })
        const run = (key: number) => Effect.exit(Effect.void.pipe(keyed.withRateLimiter(key)))
        for (let key = 0; key < 3; key++) expect(Exit.isSuccess(yield* run(key))).toBe(true)
        // A flood of new keys: each is served (before: refused while 3 were live), the table stays at 3.
        for (let key = 3; key < 100; key++) expect(Exit.isSuccess(yield* run(key))).toBe(true)
        expect([...(yield* keyed.keys)]).toEqual([97, 98, 99])
        expect(Exit.isSuccess(yield* run(1))).toBe(true) // evicted long ago: a fresh quota
        yield* TestClock.adjust("30 seconds")
        expect(Exit.isSuccess(yield* run(99))).toBe(true) // key 99 used again: its idle time restarts
        yield* TestClock.adjust("30 seconds")
        expect([...(yield* keyed.keys)]).toEqual([99])
        expect(Exit.isSuccess(yield* run(50))).toBe(true)
        yield* TestClock.adjust("1 minute")
        expect((yield* keyed.keys).length).toBe(0)
      })
  )

  itScoped("a held key is never evicted: when every key is held, a new key is refused", () =>
    Effect.gen(function*() {
      const keyed = yield* RateLimiter.keyed<string>({
        name: "held",
        limitForPeriod: 1,
        limitRefreshPeriod: "1 second",
        timeoutDuration: "5 seconds",
        maxKeys: 2
      })
      const a = yield* keyed.get("a") // held while this test's scope is open
      yield* a.acquire(1)
      // "b" waits for its next cycle: it is held while it waits.
      yield* Effect.void.pipe(keyed.withRateLimiter("b"))
      const waiting = yield* forkChild(Effect.void.pipe(keyed.withRateLimiter("b")))
      yield* TestClock.adjust("1 millis")
      const refusedNew = refusal(yield* Effect.exit(Effect.void.pipe(keyed.withRateLimiter("c"))))
      expect(refusedNew.limiterName).toBe("held:c")
      expect(refusedNew.retryAfter).toEqual(Option.none())
      expect((yield* Effect.flip(keyed.get("d"))).limiterName).toBe("held:d")
      expect(yield* available(a)).toBe(0) // "a" kept its state
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(waiting)
      // "b" is no longer held: it makes room for "c".
      expect(Exit.isSuccess(yield* Effect.exit(Effect.void.pipe(keyed.withRateLimiter("c"))))).toBe(true)
      expect([...(yield* keyed.keys)]).toEqual(["c", "a"])
      // Bad permits die as with a single limiter.
      const bad = yield* Effect.exit(Effect.void.pipe(keyed.withRateLimiter("c", { permits: 0 })))
      expect(Exit.isFailure(bad) && Option.isSome(defectOf(bad.cause))).toBe(true)
    }))

  itScoped(
    "limiters that need more than a core (a schedule, a store) keep their shell per key",
    () =>
      Effect.gen(function*() {
        const scheduled = yield* RateLimiter.keyed<string>({
          name: "daily",
          limitForPeriod: 1,
          limitRefreshPeriod: Schedule.spaced("1 second"),
          timeoutDuration: 0,
          maxKeys: 2
        })
        const run = (keyed: RateLimiter.Keyed<string>, key: string) =>
          Effect.exit(Effect.void.pipe(keyed.withRateLimiter(key)))
        expect(Exit.isSuccess(yield* run(scheduled, "a"))).toBe(true)
        expect(refusal(yield* run(scheduled, "a")).limiterName).toBe("daily:a")
        yield* TestClock.adjust("1 second")
        expect(Exit.isSuccess(yield* run(scheduled, "a"))).toBe(true)

        const MemoryStore = memoryStore("fail-open")
        const shared = yield* RateLimiter.keyed<string>({
          name: "shared",
          limitForPeriod: 1,
          limitRefreshPeriod: "1 second",
          timeoutDuration: 0
        }).pipe(Effect.provide(MemoryStore))
        expect(Exit.isSuccess(yield* run(shared, "a"))).toBe(true)
        expect(refusal(yield* run(shared, "a")).limiterName).toBe("shared:a")
        // A store takes no schedule: said when the keyed limiter is made, not on a key's first call.
        const error = yield* configError(
          RateLimiter.keyed({ name: "s", limitRefreshPeriod: Schedule.spaced("1 second") }).pipe(
            Effect.provide(MemoryStore)
          )
        )
        expect(error.issues.map((i) => i.field)).toContain("limitRefreshPeriod")
      })
  )

  itScoped(
    "an idleTimeToLive shorter than the time a limiter takes to forget is refused",
    () =>
      Effect.gen(function*() {
        const error = yield* configError(
          RateLimiter.keyed({
            name: "k",
            limitForPeriod: 2,
            limitRefreshPeriod: "1 minute",
            idleTimeToLive: "10 seconds"
          })
        )
        expect(error.issues.map((i) => i.field)).toEqual(["idleTimeToLive"])
        const bucket = yield* configError(
          RateLimiter.keyed({
            name: "k",
            algorithm: "token-bucket",
            limitForPeriod: 1,
            limitRefreshPeriod: "1 second",
            capacity: 10,
            idleTimeToLive: "5 seconds" // a full refill takes 10
          })
        )
        expect(bucket.issues.map((i) => i.field)).toEqual(["idleTimeToLive"])
        yield* RateLimiter.keyed({
          name: "k",
          limitForPeriod: 2,
          limitRefreshPeriod: "1 minute",
          idleTimeToLive: "1 minute"
        })
      })
  )

  itScoped("keyed options are validated", () =>
    Effect.gen(function*() {
      const error = yield* configError(RateLimiter.keyed({ name: "k", maxKeys: 0, idleTimeToLive: "-1 seconds" }))
      expect(error.issues.map((i) => i.field).sort()).toEqual(["idleTimeToLive", "maxKeys"])
    }))
})

// ---- several limiters at once ---------------------------------------------------------------------

describe("RateLimiter.acquireAll", () => {
  itScoped("all or nothing: a refusal consumes nothing from any limiter", () =>
    Effect.gen(function*() {
      const options = { limitRefreshPeriod: "1 second", timeoutDuration: 0 } as const
      const tenant = yield* RateLimiter.make({ name: "tenant", limitForPeriod: 1, ...options })
      const global = yield* RateLimiter.make({ name: "global", limitForPeriod: 10, ...options })
      yield* RateLimiter.acquireAll([tenant, global])
      expect([yield* available(tenant), yield* available(global)]).toEqual([0, 9])
      const error = yield* Effect.flip(RateLimiter.acquireAll([global, tenant]))
      expect(error.limiterName).toBe("tenant")
      expect(retryAfterMillis(error)).toEqual(Option.some(1000))
      expect([yield* available(tenant), yield* available(global)]).toEqual([0, 9])
      const guarded = yield* Effect.exit(Effect.succeed(1).pipe(RateLimiter.withRateLimiters([tenant, global])))
      expect(Exit.isFailure(guarded)).toBe(true)
      expect(yield* available(global)).toBe(9)
    }))

  itScoped("waits for the latest reservation when every wait fits the timeouts", () =>
    Effect.gen(function*() {
      const a = yield* RateLimiter.make({ name: "a", limitForPeriod: 1, limitRefreshPeriod: "1 second" })
      const b = yield* RateLimiter.make({ name: "b", limitForPeriod: 1, limitRefreshPeriod: "3 seconds" })
      yield* RateLimiter.acquireAll([a, b])
      const fiber = yield* forkChild(RateLimiter.withRateLimiters(now, [a, b]))
      yield* yieldNow
      expect([(yield* a.metrics).numberOfWaitingFibers, (yield* b.metrics).numberOfWaitingFibers]).toEqual([1, 1])
      yield* TestClock.adjust("3 seconds")
      expect(yield* Fiber.join(fiber)).toBe(3000)
      // a's permit was taken from its cycle at 3000, not from the one at 1000.
      expect(yield* available(a)).toBe(0)
    }))

  itScoped("an interrupted multi-waiter gives back every reservation", () =>
    Effect.gen(function*() {
      const a = yield* RateLimiter.make({ name: "a", limitForPeriod: 1, limitRefreshPeriod: "1 second" })
      const b = yield* RateLimiter.make({ name: "b", limitForPeriod: 2, limitRefreshPeriod: "1 second" })
      yield* RateLimiter.acquireAll([a, b])
      const fiber = yield* forkChild(RateLimiter.acquireAll([a, b]))
      yield* yieldNow
      // b's reservation is in its next cycle (with a's): b's last permit now is held back meanwhile.
      expect([yield* available(a), yield* available(b)]).toEqual([-1, 0])
      yield* Fiber.interrupt(fiber)
      expect([yield* available(a), yield* available(b)]).toEqual([0, 1])
    }))

  itScoped("refuses when the combined wait exceeds the smallest timeout", () =>
    Effect.gen(function*() {
      const a = yield* RateLimiter.make({
        name: "a",
        limitForPeriod: 1,
        limitRefreshPeriod: "1 second",
        timeoutDuration: "5 seconds"
      })
      const b = yield* RateLimiter.make({
        name: "b",
        limitForPeriod: 1,
        limitRefreshPeriod: "1 second",
        timeoutDuration: 0
      })
      yield* a.acquire()
      const error = yield* Effect.flip(RateLimiter.acquireAll([a, b]))
      expect(error.limiterName).toBe("a")
      expect([yield* available(a), yield* available(b)]).toEqual([0, 1])
    }))
})

// ---- construction --------------------------------------------------------------------------------

describe("RateLimiter construction", () => {
  itScoped("bad options fail make with InvalidConfigError naming each field and value", () =>
    Effect.gen(function*() {
      const error = yield* configError(RateLimiter.make({
        name: "",
        limitForPeriod: 0,
        limitRefreshPeriod: 0,
        timeoutDuration: "-5 seconds",
        algorithm: "leaky" as never
      }))
      expect(error.guard).toBe("RateLimiter")
      expect(error.issues.map((i) => i.field).sort()).toEqual([
        "algorithm",
        "limitForPeriod",
        "limitRefreshPeriod",
        "name",
        "timeoutDuration"
      ])
      expect(error.issues.find((i) => i.field === "limitForPeriod")?.value).toBe(0)
      const unknown = yield* configError(RateLimiter.make({ name: "x", limitForPeriods: 3 } as never))
      expect(unknown.issues).toEqual([{ field: "limitForPeriods", value: 3, rule: "is not a known option" }])
    }))

  itScoped("withRateLimiter is dual and policy wraps it", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        name: "p",
        limitForPeriod: 3,
        limitRefreshPeriod: "1 second",
        timeoutDuration: 0
      })
      expect(yield* Effect.succeed(1).pipe(RateLimiter.withRateLimiter(limiter))).toBe(1)
      expect(yield* RateLimiter.withRateLimiter(Effect.succeed(2), limiter)).toBe(2)
      expect(yield* RateLimiter.policy(limiter)(Effect.succeed(3))).toBe(3)
      expect(Exit.isFailure(yield* Effect.exit(RateLimiter.policy(limiter)(Effect.succeed(4))))).toBe(true)
    }))

  it.effect("layer, config and layerConfig", () =>
    Effect.gen(function*() {
      class Partner extends Service<Partner, RateLimiter.RateLimiter>()("Partner") {}
      const fromCode = yield* Effect.flatMap(Partner, available).pipe(
        Effect.provide(RateLimiter.layer(Partner, { name: "partner", limitForPeriod: 7 }))
      )
      expect(fromCode).toBe(7)
      const provider = configFromJson({
        partner: { limitForPeriod: 9, limitRefreshPeriod: "1 minute", algorithm: "sliding-window" }
      })
      const fromConfig = yield* Effect.flatMap(Partner, (l) => Effect.map(available(l), (n) => [l.name, n])).pipe(
        Effect.provide(RateLimiter.layerConfig(Partner, RateLimiter.config("partner"))),
        withConfig(provider)
      )
      expect(fromConfig).toEqual(["partner", 9])
      const bad = configFromJson({ partner: { limitForPeriod: -1 } })
      const error = yield* Effect.flip(
        Effect.flatMap(Partner, available).pipe(
          Effect.provide(RateLimiter.layerConfig(Partner, RateLimiter.config("partner"))),
          withConfig(bad)
        )
      )
      expect(error._tag).toBe("InvalidConfigError")
    }))

  itScoped("layerConfig adds a Schedule from code", () =>
    Effect.gen(function*() {
      class Quota extends Service<Quota, RateLimiter.RateLimiter>()("Quota") {}
      const provider = configFromJson({ quota: { limitForPeriod: 2 } })
      const limiter = yield* Quota.pipe(
        Effect.provide(
          RateLimiter.layerConfig(Quota, RateLimiter.config("quota"), { limitRefreshPeriod: Schedule.fixed("1 hour") })
        ),
        withConfig(provider)
      )
      expect(yield* available(limiter)).toBe(2)
    }))
})
