import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Option, Ref, Stream } from "effect"
// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the ports.
import { failureOf, forkChild, Service } from "#port"
import { configFromJson, itScoped, pollFiber, TestClock, withConfig, yieldNow } from "#test-port"
import { InvalidConfigError } from "../src/errors/InvalidConfigError.js"
import * as TimeLimiter from "../src/guards/TimeLimiter.js"

// ---- helpers -------------------------------------------------------------------------------------

/** Lets forked fibers (callers, event subscribers) run up to their next wait. */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 10; i++) yield* yieldNow
})

const advance = (millis: number) => TestClock.adjust(Duration.millis(millis))

/** Forks `self` through the limiter. */
const start = <A, E>(limiter: TimeLimiter.TimeLimiter, self: Effect.Effect<A, E>) =>
  Effect.tap(forkChild(TimeLimiter.withTimeLimiter(self, limiter)), () => settle)

/** A call that takes `millis` of `TestClock` time, then marks `done`, noting whether it was interrupted. */
const slowCall = (millis: number) =>
  Effect.gen(function*() {
    const done = yield* Ref.make(false)
    const interrupted = yield* Ref.make(false)
    const call = Effect.sleep(Duration.millis(millis)).pipe(
      Effect.andThen(Ref.set(done, true)),
      Effect.as(`took ${millis} ms`),
      Effect.onInterrupt(() => Ref.set(interrupted, true))
    )
    return { call, done: Ref.get(done), interrupted: Ref.get(interrupted) }
  })

const isTimeout = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) &&
  Option.exists(failureOf(exit.cause), (e) => e instanceof TimeLimiter.TimeoutExceededError)

const recordEvents = (limiter: TimeLimiter.TimeLimiter) =>
  Effect.gen(function*() {
    const seen: Array<TimeLimiter.Event> = []
    yield* Effect.forkScoped(Stream.runForEach(limiter.events, (e) => Effect.sync(() => seen.push(e))))
    yield* settle
    return Effect.andThen(settle, Effect.sync(() => [...seen]))
  })

describe("TimeLimiter", () => {
  itScoped("defaults to a 1 second limit: 999 ms succeeds, 1001 ms times out at 1 s", () =>
    Effect.gen(function*() {
      const limiter = yield* TimeLimiter.make({ name: "search" })
      const settings = yield* limiter.settings
      expect(Duration.toMillis(settings.timeoutDuration)).toBe(1000)
      expect(settings.cancelRunningCall).toBe(true)

      const quick = yield* slowCall(999)
      const ok = yield* start(limiter, quick.call)
      yield* advance(999)
      expect(yield* Fiber.join(ok)).toBe("took 999 ms")

      const slow = yield* slowCall(1001)
      const late = yield* start(limiter, slow.call)
      yield* advance(999)
      expect(yield* pollFiber(late)).toEqual(Option.none())
      yield* advance(1)
      expect(isTimeout(yield* Fiber.await(late))).toBe(true)
    }))

  itScoped("the result, typed errors and defects pass through unchanged", () =>
    Effect.gen(function*() {
      const limiter = yield* TimeLimiter.make({ name: "search", timeoutDuration: "1 second" })
      expect(yield* TimeLimiter.withTimeLimiter(Effect.succeed(1), limiter)).toBe(1)
      expect(yield* Effect.succeed(2).pipe(TimeLimiter.withTimeLimiter(limiter))).toBe(2)
      expect(yield* TimeLimiter.policy(limiter)(Effect.succeed(3))).toBe(3)
      expect(yield* Effect.exit(TimeLimiter.withTimeLimiter(Effect.fail("boom"), limiter))).toEqual(Exit.fail("boom"))
      expect(yield* Effect.exit(TimeLimiter.withTimeLimiter(Effect.die("bug"), limiter))).toEqual(Exit.die("bug"))
    }))

  itScoped("TimeoutExceededError carries the name, the limit and no retry hint", () =>
    Effect.gen(function*() {
      const limiter = yield* TimeLimiter.make({ name: "search", timeoutDuration: "250 millis" })
      const fiber = yield* start(limiter, Effect.never)
      yield* advance(250)
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error).toBeInstanceOf(TimeLimiter.TimeoutExceededError)
      expect(error._tag).toBe("TimeoutExceededError")
      if (error._tag !== "TimeoutExceededError") return
      expect(error.timeLimiterName).toBe("search")
      expect(Duration.toMillis(error.timeout)).toBe(250)
      expect(Option.isNone(error.retryAfter)).toBe(true)
      expect(error.message).toContain("TimeLimiter 'search'")
      expect(error.message).toContain("250ms")
    }))

  itScoped("cancelRunningCall true (default): a call that times out is interrupted", () =>
    Effect.gen(function*() {
      const limiter = yield* TimeLimiter.make({ name: "search", timeoutDuration: "1 second" })
      const slow = yield* slowCall(2000)
      const fiber = yield* start(limiter, slow.call)
      yield* advance(1000)
      expect(isTimeout(yield* Fiber.await(fiber))).toBe(true)
      // The error is returned once the call has been interrupted: its finalizers have run.
      expect(yield* slow.interrupted).toBe(true)
      yield* advance(5000)
      expect(yield* slow.done).toBe(false)
    }))

  itScoped(
    "cuts the call short even where the caller is uninterruptible (as in a platform server handler)",
    () =>
      Effect.gen(function*() {
        const limiter = yield* TimeLimiter.make({ name: "search", timeoutDuration: "1 second" })
        const slow = yield* slowCall(3000)
        const fiber = yield* forkChild(Effect.uninterruptible(TimeLimiter.withTimeLimiter(slow.call, limiter)))
        yield* settle
        yield* advance(1000)
        expect(isTimeout(yield* Fiber.await(fiber))).toBe(true)
        expect(yield* slow.interrupted).toBe(true)
      })
  )

  itScoped(
    "cancelRunningCall false: the caller gets the timeout; the call finishes in the background",
    () =>
      Effect.gen(function*() {
        const limiter = yield* TimeLimiter.make({
          name: "search",
          timeoutDuration: "1 second",
          cancelRunningCall: false
        })
        const slow = yield* slowCall(2000)
        const fiber = yield* start(limiter, slow.call)
        yield* advance(1000)
        expect(isTimeout(yield* Fiber.await(fiber))).toBe(true)
        expect(yield* slow.done).toBe(false)
        expect(yield* slow.interrupted).toBe(false)
        yield* advance(1000)
        expect(yield* slow.done).toBe(true)
        expect(yield* slow.interrupted).toBe(false)
      })
  )

  itScoped(
    "cancelRunningCall false: results within the limit, and errors, still reach the caller",
    () =>
      Effect.gen(function*() {
        const limiter = yield* TimeLimiter.make({ name: "search", cancelRunningCall: false })
        const quick = yield* slowCall(500)
        const fiber = yield* start(limiter, quick.call)
        yield* advance(500)
        expect(yield* Fiber.join(fiber)).toBe("took 500 ms")
        expect(yield* Effect.exit(TimeLimiter.withTimeLimiter(Effect.fail("boom"), limiter))).toEqual(Exit.fail("boom"))
      })
  )

  itScoped(
    "cancelRunningCall false: interrupting the caller before the timeout interrupts the call",
    () =>
      Effect.gen(function*() {
        const limiter = yield* TimeLimiter.make({
          name: "search",
          timeoutDuration: "1 second",
          cancelRunningCall: false
        })
        const slow = yield* slowCall(2000)
        const fiber = yield* start(limiter, slow.call)
        yield* advance(500)
        yield* Fiber.interrupt(fiber)
        yield* settle
        expect(yield* slow.interrupted).toBe(true)
        yield* advance(5000)
        expect(yield* slow.done).toBe(false)
      })
  )

  it.effect("cancelRunningCall false: calls left running end when the limiter's scope closes", () =>
    Effect.gen(function*() {
      const slow = yield* slowCall(2000)
      yield* Effect.scoped(Effect.gen(function*() {
        const limiter = yield* TimeLimiter.make({
          name: "search",
          timeoutDuration: "1 second",
          cancelRunningCall: false
        })
        const fiber = yield* start(limiter, slow.call)
        yield* advance(1000)
        expect(isTimeout(yield* Fiber.await(fiber))).toBe(true)
      }))
      expect(yield* slow.interrupted).toBe(true)
    }))

  itScoped("interrupting the caller interrupts the call (cancelRunningCall true)", () =>
    Effect.gen(function*() {
      const limiter = yield* TimeLimiter.make({ name: "search" })
      const slow = yield* slowCall(2000)
      const fiber = yield* start(limiter, slow.call)
      yield* Fiber.interrupt(fiber)
      expect(yield* slow.interrupted).toBe(true)
    }))

  itScoped(
    "publishes Success, Error and Timeout with time and duration, only for callers' outcomes",
    () =>
      Effect.gen(function*() {
        const limiter = yield* TimeLimiter.make({ name: "search", timeoutDuration: "100 millis" })
        const events = yield* recordEvents(limiter)
        const ok = yield* start(limiter, Effect.as(Effect.sleep("30 millis"), "ok"))
        yield* advance(30)
        yield* Fiber.join(ok)
        yield* Effect.exit(TimeLimiter.withTimeLimiter(Effect.fail("boom"), limiter))
        yield* Effect.exit(TimeLimiter.withTimeLimiter(Effect.die("bug"), limiter))
        const slow = yield* start(limiter, Effect.never)
        yield* advance(100)
        yield* Fiber.await(slow)
        const interrupted = yield* start(limiter, Effect.never)
        yield* Fiber.interrupt(interrupted)
        expect((yield* events).map((e) => [e._tag, e.at, Duration.toMillis(e.duration)])).toEqual([
          ["Success", 30, 30],
          ["Error", 30, 0],
          ["Error", 30, 0],
          ["Timeout", 130, 100]
        ])
        const errors = (yield* events).filter(TimeLimiter.Event.$is("Error")).map((e) => e.error)
        expect(errors).toEqual(["boom", "bug"])
        expect((yield* events).every((e) => e.timeLimiterName === "search")).toBe(true)
      })
  )

  itScoped(
    "a nested limiter's timeout is an Error for the outer one, not its own Timeout",
    () =>
      Effect.gen(function*() {
        const outer = yield* TimeLimiter.make({ name: "outer", timeoutDuration: "1 second" })
        const inner = yield* TimeLimiter.make({ name: "inner", timeoutDuration: "10 millis" })
        const events = yield* recordEvents(outer)
        const fiber = yield* start(outer, TimeLimiter.withTimeLimiter(Effect.never, inner))
        yield* advance(10)
        yield* Fiber.await(fiber)
        expect((yield* events).map((e) => e._tag)).toEqual(["Error"])
      })
  )

  describe("reconfigure", () => {
    itScoped("changes the limit and the cancellation for calls started afterwards", () =>
      Effect.gen(function*() {
        const limiter = yield* TimeLimiter.make({ name: "search", timeoutDuration: "1 second" })
        const before = yield* slowCall(1500)
        const running = yield* start(limiter, before.call)
        yield* limiter.reconfigure({ timeoutDuration: "2 seconds", cancelRunningCall: false })
        yield* advance(1000)
        expect(isTimeout(yield* Fiber.await(running))).toBe(true) // started under the old limit

        const after = yield* slowCall(1500)
        const fiber = yield* start(limiter, after.call)
        yield* advance(1500)
        expect(yield* Fiber.join(fiber)).toBe("took 1500 ms")

        yield* limiter.reconfigure({ timeoutDuration: "100 millis" })
        const detached = yield* slowCall(300)
        const late = yield* start(limiter, detached.call)
        yield* advance(100)
        const error = yield* Effect.flip(Fiber.join(late))
        expect(error._tag === "TimeoutExceededError" && Duration.toMillis(error.timeout)).toBe(100)
        yield* advance(200)
        expect(yield* detached.done).toBe(true)
        const settings = yield* limiter.settings
        expect([Duration.toMillis(settings.timeoutDuration), settings.cancelRunningCall]).toEqual([100, false])
      }))

    itScoped("rejects bad values with InvalidConfigError and changes nothing", () =>
      Effect.gen(function*() {
        const limiter = yield* TimeLimiter.make({ name: "search" })
        const error = yield* Effect.flip(limiter.reconfigure({ timeoutDuration: 0 }))
        expect(error).toBeInstanceOf(InvalidConfigError)
        expect(error.issues.map((i) => i.field)).toEqual(["timeoutDuration"])
        expect(error.guardName).toBe("search")
        expect(Duration.toMillis((yield* limiter.settings).timeoutDuration)).toBe(1000)
      }))
  })

  describe("options", () => {
    it.effect("bad options fail with InvalidConfigError naming field, value and rule", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.scoped(TimeLimiter.make({
          name: "search",
          timeoutDuration: "-1 seconds",
          cancelRunningCall: "yes" as unknown as boolean
        })))
        expect(error.guard).toBe("TimeLimiter")
        expect(error.issues.map((i) => [i.field, i.value])).toEqual([
          ["timeoutDuration", "-1 seconds"],
          ["cancelRunningCall", "yes"]
        ])
        const zero = yield* Effect.flip(Effect.scoped(TimeLimiter.make({ name: "search", timeoutDuration: 0 })))
        expect(zero.issues[0]!.rule).toBe("must be at least 1ms")
        const unknown = yield* Effect.flip(
          Effect.scoped(TimeLimiter.make({ name: "search", timeout: "1 second" } as TimeLimiter.Options))
        )
        expect(unknown.issues).toEqual([{ field: "timeout", value: "1 second", rule: "is not a known option" }])
      }))

    it.effect("layer provides a limiter for a tag and fails on bad options", () =>
      Effect.gen(function*() {
        class Search extends Service<Search, TimeLimiter.TimeLimiter>()("Search") {}
        const settings = yield* Effect.gen(function*() {
          return yield* (yield* Search).settings
        }).pipe(
          Effect.provide(TimeLimiter.layer(Search, { name: "search", timeoutDuration: "3 seconds" }))
        )
        expect(Duration.toMillis(settings.timeoutDuration)).toBe(3000)
        const error = yield* Effect.flip(Effect.provide(Search, TimeLimiter.layer(Search, { name: "" })))
        expect(error._tag).toBe("InvalidConfigError")
      }))

    it.effect("config reads the options under a namespace; layerConfig builds from it", () =>
      Effect.gen(function*() {
        class Search extends Service<Search, TimeLimiter.TimeLimiter>()("Search") {}
        const provider = configFromJson({ search: { timeoutDuration: "2 seconds", cancelRunningCall: false } })
        expect(yield* withConfig(provider)(TimeLimiter.config("search"))).toEqual({
          name: "search",
          timeoutDuration: "2 seconds",
          cancelRunningCall: false
        })
        const settings = yield* Effect.gen(function*() {
          return yield* (yield* Search).settings
        }).pipe(
          Effect.provide(TimeLimiter.layerConfig(Search, TimeLimiter.config("search"), { cancelRunningCall: true })),
          withConfig(provider)
        )
        expect([Duration.toMillis(settings.timeoutDuration), settings.cancelRunningCall]).toEqual([2000, true])
        const bad = yield* Effect.flip(
          Effect.gen(function*() {
            return yield* (yield* Search).settings
          }).pipe(
            Effect.provide(TimeLimiter.layerConfig(Search, TimeLimiter.config("search"))),
            withConfig(configFromJson({ search: { timeoutDuration: "soon" } }))
          )
        )
        expect(bad._tag === "InvalidConfigError" && bad.issues[0]!.field).toBe("timeoutDuration")
      }))
  })
})
