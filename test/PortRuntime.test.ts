import { defectOf, dieMessage, failureOf, forkChild, forkDetach, isInterruptOnly, layerScoped, Service } from "#port"
import { FastCheck, isRunning, itEffectProp, itScoped, makeFiberTracker, TestClock, yieldNow } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Data, Deferred, Effect, Exit, Fiber, Option } from "effect"

// The run-time port entries (src/port/effect{3,4}/runtime.ts) answer alike on both targets.
class Boom extends Data.TaggedError("Boom")<{ readonly n: number }> {}

const causeOf = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) throw new Error("expected a failure")
    return exit.cause
  })

describe("port: run-time entries", () => {
  it.effect("failureOf / defectOf / isInterruptOnly read a cause", () =>
    Effect.gen(function*() {
      const failed = yield* causeOf(Effect.fail(new Boom({ n: 1 })))
      expect(Option.map(failureOf(failed), (e) => e.n)).toEqual(Option.some(1))
      expect(Option.isNone(defectOf(failed))).toBe(true)
      expect(isInterruptOnly(failed)).toBe(false)

      const died = yield* causeOf(dieMessage("bad permits"))
      expect(Option.isNone(failureOf(died))).toBe(true)
      const defect = Option.getOrThrow(defectOf(died))
      expect((defect as Error).message).toBe("bad permits")
      expect(isInterruptOnly(died)).toBe(false)

      const interrupted = yield* causeOf(Effect.interrupt)
      expect(isInterruptOnly(interrupted)).toBe(true)
      expect(Option.isNone(failureOf(interrupted))).toBe(true)
    }))

  it.effect("makeFiberTracker counts the fibers a region starts, grandchildren and daemons too, until they end", () =>
    Effect.gen(function*() {
      const fibers = yield* makeFiberTracker
      const gate = yield* Deferred.make<void>()
      const untracked = yield* forkChild(Deferred.await(gate))
      const parent = yield* fibers.track(forkChild(Effect.gen(function*() {
        yield* forkChild(Deferred.await(gate))
        yield* forkDetach(Deferred.await(gate))
        yield* Deferred.await(gate)
      })))
      yield* yieldNow
      expect(yield* fibers.alive).toBe(3)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.await(parent)
      yield* Fiber.await(untracked)
      for (let i = 0; i < 3 && (yield* fibers.alive) > 0; i++) yield* yieldNow
      expect(yield* fibers.alive).toBe(0)
    }))

  it.effect("forkChild runs on a child fiber, which isRunning sees until it ends", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const fiber = yield* forkChild(Effect.as(Deferred.await(gate), 7))
      yield* yieldNow
      expect(isRunning(fiber)).toBe(true)
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Fiber.join(fiber)).toBe(7)
      expect(isRunning(fiber)).toBe(false)
    }))

  itScoped(
    "layerScoped: the service lives as long as the layer, its finalizer runs when it is released",
    () =>
      Effect.gen(function*() {
        class Counter extends Service<Counter, { readonly value: number }>()("Counter") {}
        const log: Array<string> = []
        const live = layerScoped(
          Counter,
          Effect.as(Effect.addFinalizer(() => Effect.sync(() => log.push("released"))), { value: 3 })
        )
        const value = yield* Effect.scoped(Effect.provide(Effect.map(Counter, (c) => c.value), live))
        expect(value).toBe(3)
        expect(log).toEqual(["released"])
      })
  )

  itEffectProp(
    "itEffectProp: record arbitraries, each run on a fresh TestClock",
    { advance: FastCheck.integer({ min: 0, max: 1_000 }), label: FastCheck.constantFrom("a", "b") },
    ({ advance, label }) =>
      Effect.gen(function*() {
        expect(yield* Clock.currentTimeMillis).toBe(0)
        yield* TestClock.adjust(advance)
        expect(yield* Clock.currentTimeMillis).toBe(advance)
        expect(["a", "b"]).toContain(label)
      }),
    { fastCheck: { numRuns: 20 } }
  )

  itEffectProp(
    "itEffectProp: tuple arbitraries",
    [FastCheck.integer({ min: 1, max: 5 }), FastCheck.boolean()],
    ([n, flag]) => Effect.sync(() => expect(typeof n === "number" && typeof flag === "boolean").toBe(true)),
    { fastCheck: { numRuns: 5 } }
  )
})
