/**
 * The names of the side-by-side cases (bench/targets/guardCases.ts), importable without building guards.
 */
import { Ours } from "../cases/peers/names.js"

/** The case names, without the target (see {@link onTarget}); the main table's names where it has the case. */
export const TargetCase = {
  floor: "floor wrapper, success",
  floorFailure: "floor wrapper, failure",
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
  stack: "full stack, metrics off"
} as const

/** Cases whose floor is the failure floor (a failed call costs the runtime more than a success). */
export const failureCases: ReadonlySet<string> = new Set([TargetCase.breakerFailure, TargetCase.breakerOpen])

/** The name of a case in the build for Effect `major`: "ours on Effect 4: breaker closed, …". */
export const onTarget = (major: 3 | 4, name: string): string => `ours on Effect ${major}: ${name}`
