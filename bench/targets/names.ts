/**
 * The names of the side-by-side cases (bench/targets/guardCases.ts), importable without building guards.
 */
import { Ours } from "../cases/peers/names.js"

/** The case names, without the target (see {@link onTarget}); the main table's names where it has the case. */
export const TargetCase = {
  floor: "floor wrapper, success",
  floorFailure: "floor wrapper, failure",
  floorTimed: "floor wrapper with two clock reads (a timed call), success",
  floorStack: "floor wrapper x4 (the least a 4-guard stack can cost)",
  breakerCount: Ours.breakerCount,
  breakerTime: Ours.breakerTime,
  breakerFailure: Ours.breakerFailure,
  breakerOpen: Ours.breakerOpen,
  fixedWindow: Ours.fixedWindow,
  tokenBucket: Ours.tokenBucket,
  slidingWindow: Ours.slidingWindow,
  bulkhead: Ours.bulkhead,
  retry: "retry, success without retry",
  timeLimiter: "time limiter, success",
  stack: "full stack, metrics off",
  stackMetered: "full stack, metrics on (collected after every slice)"
} as const

/** Cases whose floor is the failure floor (a failed call costs the runtime more than a success). */
export const failureCases: ReadonlySet<string> = new Set([TargetCase.breakerFailure, TargetCase.breakerOpen])

/** The name of a case in the build for Effect `major`: "ours on Effect 4: breaker closed, …". */
export const onTarget = (major: 3 | 4, name: string): string => `ours on Effect ${major}: ${name}`

/**
 * Fails the load of a target build that was handed the other Effect major (a resolution slip in
 * build.mjs would otherwise measure one Effect twice under two names): Effect 4 renamed `forkDaemon` to
 * `forkDetach`, and neither major has both (test/EffectTarget.test.ts checks the same for the suites).
 */
export const checkMajor = (major: 3 | 4, effectModule: object): void => {
  const loaded = "forkDetach" in effectModule ? 4 : "forkDaemon" in effectModule ? 3 : undefined
  if (loaded !== major) throw new Error(`the Effect ${major} build of the bench loaded Effect ${loaded ?? "unknown"}`)
}
