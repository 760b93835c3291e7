import { describe, expect } from "@effect/vitest"
import { Duration, Effect, Fiber, Option } from "effect"
// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the ports.
import { forkChild } from "#port"
import { FastCheck, itEffectProp, pollFiber, TestClock, yieldNow } from "#test-port"
import * as Bulkhead from "../src/guards/Bulkhead.js"

/**
 * Time in this test is counted in scheduler turns (`Effect.yieldNow`), which is fast and lets fibers
 * interleave at every turn; the `TestClock` is moved only at a few random turns, to expire waiters.
 */
const turns = (n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < Math.max(1, n); i++) yield* yieldNow
  })

const Outcome = FastCheck.constantFrom("success", "failure", "defect", "interrupt")

const Call = FastCheck.record({
  startAt: FastCheck.integer({ min: 0, max: 30 }),
  duration: FastCheck.integer({ min: 0, max: 20 }),
  outcome: Outcome,
  /** When (if at all) the caller is interrupted: before, while waiting, while running or after. */
  interruptAt: FastCheck.option(FastCheck.integer({ min: 0, max: 80 }), { nil: undefined })
})

const Plan = FastCheck.record({
  maxConcurrentCalls: FastCheck.integer({ min: 1, max: 4 }),
  maxWaitMillis: FastCheck.constantFrom(0, 1, 5, 20, Number.POSITIVE_INFINITY),
  calls: FastCheck.array(Call, { minLength: 1, maxLength: 30 }),
  /** At which turns the clock moves, and by how much. */
  ticks: FastCheck.array(
    FastCheck.record({ at: FastCheck.integer({ min: 0, max: 200 }), millis: FastCheck.integer({ min: 0, max: 25 }) }),
    {
      maxLength: 4
    }
  )
})

describe("Bulkhead properties", () => {
  itEffectProp(
    "concurrent calls never exceed maxConcurrentCalls, and every slot comes back whatever the exit",
    [Plan],
    ([plan]) =>
      Effect.scoped(Effect.gen(function*() {
        const max = plan.maxConcurrentCalls
        const bulkhead = yield* Bulkhead.make({
          name: "property",
          maxConcurrentCalls: max,
          maxWaitDuration: Number.isFinite(plan.maxWaitMillis) ? plan.maxWaitMillis : Duration.infinity
        })
        let inside = 0
        let peak = 0
        const call = (duration: number, outcome: typeof plan.calls[number]["outcome"]) =>
          Effect.acquireUseRelease(
            Effect.sync(() => {
              peak = Math.max(peak, ++inside)
            }),
            () =>
              Effect.andThen(
                turns(duration),
                outcome === "success"
                  ? Effect.void
                  : outcome === "failure"
                  ? Effect.fail("boom")
                  : outcome === "defect"
                  ? Effect.die("bug")
                  : Effect.interrupt
              ),
            () => Effect.sync(() => inside--)
          )

        const fibers = yield* Effect.forEach(plan.calls, (c) =>
          Effect.gen(function*() {
            const fiber = yield* forkChild(
              Effect.andThen(turns(c.startAt), Bulkhead.withBulkhead(call(c.duration, c.outcome), bulkhead))
            )
            if (c.interruptAt !== undefined) {
              yield* forkChild(Effect.andThen(turns(c.interruptAt), Fiber.interrupt(fiber)))
            }
            return fiber
          }))

        const allDone = Effect.map(Effect.forEach(fibers, pollFiber), (polls) => polls.every(Option.isSome))
        for (let turn = 0; turn < 2_000 && !(yield* allDone); turn++) {
          for (const tick of plan.ticks) {
            if (tick.at === turn) yield* TestClock.adjust(Duration.millis(tick.millis))
          }
          // Waiters with a finite wait that nothing else will free: let their waits expire.
          if (turn === 1_000) yield* TestClock.adjust("1 hour")
          yield* yieldNow
          const { availableConcurrentCalls } = yield* bulkhead.metrics
          expect(max - availableConcurrentCalls).toBeGreaterThanOrEqual(inside)
        }
        expect(yield* allDone).toBe(true)
        expect(peak).toBeLessThanOrEqual(max)
        expect(inside).toBe(0)
        expect(yield* bulkhead.metrics).toEqual({ availableConcurrentCalls: max, maxAllowedConcurrentCalls: max })
        // Nobody is left in the queue: a new call runs at once.
        expect(yield* Bulkhead.withBulkhead(Effect.succeed("after"), bulkhead)).toBe("after")
      })),
    { fastCheck: { numRuns: 300 } }
  )
})
