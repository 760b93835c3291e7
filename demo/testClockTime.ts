/**
 * The simulation driven by Effect's own `TestClock` instead of `virtualTime.ts`: a cross-check that the
 * discrete-event clock shows the guards what `TestClock` would. Much slower (each wake-up waits for a
 * real timer), so for short runs. `TestClock` lives in `effect` (3) or `effect/testing` (4): `#port/demo`.
 */
import { runUnderTestClock } from "#port/demo"
import type { Effect } from "effect"

/** Runs `effect` from epoch 0 under `TestClock`, moving time by `stepMillis` until it ends. */
export const run = <A, E>(effect: Effect.Effect<A, E>, seed: number, stepMillis = 1000): Promise<A> =>
  runUnderTestClock(effect, seed, stepMillis)
