/**
 * The time limiter runs a call in its caller's own fiber (no fork per call) and interrupts it in place
 * when it overruns (src/guards/internal/deadlines.ts). These tests pin what that must not change: only the
 * call is interrupted, the caller carries on, other interruptions still win, nested limits compose.
 *
 * On Effect 4 the in-fiber path needs fiber internals Effect 4 does not have (`inFiberSupported` is false,
 * src/port/effect4/inFiber.ts), so the limiter takes its fork-per-call fallback there: the same tests then
 * pin that the fallback keeps these semantics, and the first one checks that the fallback is taken.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Option, Ref, Scope, Stream } from "effect"
// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the ports.
import { failureOf, forkChild, isInterruptOnly, scopeProvide, withCallerFiber } from "#port"
import { itScoped, pollFiber, targetMajor, TestClock, yieldNow } from "#test-port"
import { overrideInFiberSupport } from "../src/guards/internal/deadlines.js"
import * as TimeLimiter from "../src/guards/TimeLimiter.js"

const settle = Effect.gen(function*() {
  for (let i = 0; i < 10; i++) yield* yieldNow
})
const advance = (millis: number) => TestClock.adjust(Duration.millis(millis))

const timeoutOf = (exit: Exit.Exit<unknown, unknown>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const failure = failureOf(exit.cause)
  return Option.isSome(failure) && failure.value instanceof TimeLimiter.TimeoutExceededError
    ? failure.value.timeLimiterName
    : undefined
}

/** The fiber this effect runs in. */
const currentFiber: Effect.Effect<unknown> = withCallerFiber((fiber) => Effect.succeed<unknown>(fiber))

/** Runs `call` through `limiter` `n` times in one fiber; for each, whether it ran in that (the caller's) fiber. */
const ranInCaller = <E>(n: number, limiter: TimeLimiter.TimeLimiter, call: Effect.Effect<unknown, E>) =>
  Effect.gen(function*() {
    const caller = yield* currentFiber
    const same: Array<boolean> = []
    for (let i = 0; i < n; i++) {
      same.push((yield* TimeLimiter.withTimeLimiter(Effect.andThen(call, currentFiber), limiter)) === caller)
    }
    return same
  })

describe("TimeLimiter in the caller's fiber", () => {
  itScoped(
    "runs each call in the caller's fiber (cancelRunningCall true); a detaching limiter forks each call",
    () =>
      Effect.gen(function*() {
        const limiter = yield* TimeLimiter.make({ name: "inline", timeoutDuration: "1 minute" })
        const detaching = yield* TimeLimiter.make({
          name: "detach",
          timeoutDuration: "1 minute",
          cancelRunningCall: false
        })
        // Calls that wait (on TestClock time) as well as calls that return at once.
        const waiting = yield* forkChild(ranInCaller(20, limiter, Effect.sleep("1 millis")))
        yield* settle
        for (let i = 0; i < 100; i++) {
          yield* advance(1)
          yield* settle
        }
        const inline = [...(yield* Fiber.join(waiting)), ...(yield* ranInCaller(100, limiter, Effect.void))]
        const forked = yield* ranInCaller(100, detaching, Effect.void)
        expect(forked.filter((same) => same).length).toBe(0)
        // Effect 4: no in-fiber support (`inFiberSupported` is false), so every call takes the forked
        // fallback, a fiber of its own; Effect 3: every call runs in the caller's fiber.
        expect(inline.filter((same) => same).length).toBe(targetMajor === 3 ? 120 : 0)
      })
  )

  itScoped(
    "a timeout interrupts only the call: the caller's other fibers run on, and so does the caller",
    () =>
      Effect.gen(function*() {
        const limiter = yield* TimeLimiter.make({ name: "search", timeoutDuration: "1 second" })
        const siblingInterrupted = yield* Ref.make(false)
        const caller = yield* forkChild(Effect.gen(function*() {
          const sibling = yield* forkChild(Effect.onInterrupt(Effect.never, () => Ref.set(siblingInterrupted, true)))
          const first = yield* Effect.exit(TimeLimiter.withTimeLimiter(Effect.never, limiter))
          yield* Effect.sleep("10 millis") // the caller is not left interrupted: it can still wait
          const second = yield* TimeLimiter.withTimeLimiter(Effect.as(Effect.sleep("500 millis"), "second"), limiter)
          yield* Fiber.interrupt(sibling)
          return [timeoutOf(first), second]
        }))
        yield* settle
        yield* advance(1000)
        expect(yield* Ref.get(siblingInterrupted)).toBe(false)
        yield* advance(10)
        yield* advance(500)
        expect(yield* Fiber.join(caller)).toEqual(["search", "second"])
      })
  )

  itScoped(
    "an interruption from outside during an overrunning call stays an interruption",
    () =>
      Effect.gen(function*() {
        const limiter = yield* TimeLimiter.make({ name: "search", timeoutDuration: "1 second" })
        const call = Effect.uninterruptible(Effect.sleep("2 seconds"))
        const caller = yield* forkChild(TimeLimiter.withTimeLimiter(call, limiter))
        yield* settle
        yield* advance(1000) // the deadline is recorded; the call cannot stop yet
        yield* forkChild(Fiber.interrupt(caller))
        yield* settle
        yield* advance(1000)
        const exit = yield* Fiber.await(caller)
        expect(Exit.isFailure(exit) && isInterruptOnly(exit.cause)).toBe(true)
        expect(timeoutOf(exit)).toBeUndefined()
      })
  )

  itScoped(
    "an uninterruptible call that ends after its deadline ends in the timeout error",
    () =>
      Effect.gen(function*() {
        const limiter = yield* TimeLimiter.make({ name: "search", timeoutDuration: "1 second" })
        const caller = yield* forkChild(Effect.gen(function*() {
          const exit = yield* Effect.exit(
            TimeLimiter.withTimeLimiter(Effect.uninterruptible(Effect.sleep("2 seconds")), limiter)
          )
          yield* Effect.sleep("10 millis")
          return timeoutOf(exit)
        }))
        yield* settle
        yield* advance(1000)
        expect(yield* pollFiber(caller)).toEqual(Option.none())
        yield* advance(1000)
        yield* advance(10)
        expect(yield* Fiber.join(caller)).toBe("search")
      })
  )

  itScoped(
    "nested limiters with the same deadline: one timeout error reaches the caller, which carries on",
    () =>
      Effect.gen(function*() {
        const outer = yield* TimeLimiter.make({ name: "outer", timeoutDuration: "1 second" })
        const inner = yield* TimeLimiter.make({ name: "inner", timeoutDuration: "1 second" })
        const caller = yield* forkChild(Effect.gen(function*() {
          const exit = yield* Effect.exit(
            TimeLimiter.withTimeLimiter(TimeLimiter.withTimeLimiter(Effect.never, inner), outer)
          )
          yield* Effect.sleep("10 millis")
          return timeoutOf(exit)
        }))
        yield* settle
        yield* advance(1000)
        yield* advance(10)
        // Both timers fire in the same tick; whichever reaches the caller first decides which error.
        expect(["inner", "outer"]).toContain(yield* Fiber.join(caller))
      })
  )

  itScoped("a call that never waits but keeps yielding is cut at its deadline", () =>
    Effect.gen(function*() {
      const limiter = yield* TimeLimiter.make({ name: "spin", timeoutDuration: "100 millis" })
      const caller = yield* forkChild(TimeLimiter.withTimeLimiter(Effect.forever(yieldNow), limiter))
      yield* settle
      yield* advance(100)
      yield* settle
      expect(timeoutOf(yield* Fiber.await(caller))).toBe("spin")
    }))

  it.effect("after the limiter's scope has closed, calls are still bounded", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const limiter = yield* scopeProvide(TimeLimiter.make({ name: "late", timeoutDuration: "1 second" }), scope)
      yield* Scope.close(scope, Exit.void)
      const caller = yield* forkChild(TimeLimiter.withTimeLimiter(Effect.never, limiter))
      yield* settle
      yield* advance(1000)
      expect(timeoutOf(yield* Fiber.await(caller))).toBe("late")
    }))

  itScoped(
    "many overlapping calls: each ends at its own deadline, the punctual ones succeed",
    () =>
      Effect.gen(function*() {
        const limiter = yield* TimeLimiter.make({ name: "many", timeoutDuration: "100 millis" })
        // Call i starts at i ms and takes 50 ms (even i) or 200 ms (odd i).
        const fibers = []
        for (let i = 0; i < 20; i++) {
          const call = Effect.as(Effect.sleep(Duration.millis(i % 2 === 0 ? 50 : 200)), i)
          fibers.push(yield* forkChild(TimeLimiter.withTimeLimiter(call, limiter)))
          yield* settle
          yield* advance(1)
        }
        yield* advance(300)
        const exits = yield* Effect.forEach(fibers, Fiber.await)
        expect(exits.map((exit, i) => Exit.isSuccess(exit) ? exit.value === i : timeoutOf(exit) === "many")).toEqual(
          exits.map(() => true)
        )
        expect(exits.filter(Exit.isSuccess).length).toBe(10)
      })
  )

  describe("where Effect's fiber internals are missing: the forked fallback, same semantics", () => {
    const forked = <A, E, R>(self: Effect.Effect<A, E, R>) =>
      Effect.acquireUseRelease(
        Effect.sync(() => overrideInFiberSupport(false)),
        () => self,
        () => Effect.sync(() => overrideInFiberSupport(undefined))
      )

    itScoped(
      "cancels or detaches a late call, passes results and errors, counts a timeout",
      () =>
        forked(Effect.gen(function*() {
          const cancel = yield* TimeLimiter.make({ name: "cancel", timeoutDuration: "1 second" })
          const detach = yield* TimeLimiter.make({
            name: "detach",
            timeoutDuration: "1 second",
            cancelRunningCall: false
          })
          const events = yield* cancel.subscribe
          const done = yield* Ref.make(false)
          const slow = Effect.andThen(Effect.sleep("2 seconds"), Ref.set(done, true))
          const cut = yield* forkChild(TimeLimiter.withTimeLimiter(slow, cancel))
          const left = yield* forkChild(TimeLimiter.withTimeLimiter(slow, detach))
          yield* settle
          yield* advance(1000)
          expect([timeoutOf(yield* Fiber.await(cut)), timeoutOf(yield* Fiber.await(left))]).toEqual([
            "cancel",
            "detach"
          ])
          yield* advance(1000)
          yield* settle
          expect(yield* Ref.get(done)).toBe(true) // the detached call finished in the background
          expect(yield* Effect.exit(TimeLimiter.withTimeLimiter(Effect.fail("boom"), cancel))).toEqual(
            Exit.fail("boom")
          )
          expect(yield* TimeLimiter.withTimeLimiter(Effect.succeed(1), detach)).toBe(1)
          const seen = yield* Stream.runCollect(Stream.take(events, 2))
          expect(Array.from(seen, (e) => e._tag)).toEqual(["Timeout", "Error"])
        }))
    )
  })
})
