/**
 * The simulation driven by Effect's own `TestClock` instead of `virtualTime.ts`: a cross-check that the
 * discrete-event clock shows the guards what `TestClock` would. Much slower (each wake-up waits for a
 * real timer), so for short runs.
 */
import { type Duration, Effect, Fiber, Random, TestClock, TestContext } from "effect"

/** Runs `effect` from epoch 0 under `TestClock`, moving time by `step` until it ends. */
export const run = <A, E>(
  effect: Effect.Effect<A, E>,
  seed: number,
  step: Duration.DurationInput = "1 second"
): Promise<A> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(effect)
      // `adjust` wakes every sleeper due within the step, each at its own time, in order.
      while ((yield* Fiber.poll(fiber))._tag === "None") yield* TestClock.adjust(step)
      return yield* Fiber.join(fiber)
    }).pipe(Effect.withRandom(Random.make(seed)), Effect.provide(TestContext.TestContext))
  )
