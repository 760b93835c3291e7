/**
 * The shape of the test ports' `makeFiberTracker` (effect3.ts, effect4.ts): the same on both Effects,
 * the mechanism behind it not (Effect 4 has no Supervisor).
 */
import type { Effect } from "effect"

/** Counts the fibers started inside the regions it tracks that have not ended yet. */
export interface FiberTracker {
  /** Runs `self` so that every fiber it starts, and their descendants (daemons too), is counted. */
  readonly track: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** How many of those fibers are still running. */
  readonly alive: Effect.Effect<number>
}
