/**
 * The names of the side-by-side cases (bench/targets/guardCases.ts), importable without building guards.
 */
/** The case names, without the target (see {@link onTarget}). */
export const TargetCase = {
  floor: "floor wrapper, success",
  floorFailure: "floor wrapper, failure",
  breakerCount: "breaker closed, count window, success",
  breakerTime: "breaker closed, time window, success",
  breakerFailure: "breaker closed, failure recorded",
  breakerOpen: "breaker open, refusal",
  fixedWindow: "rate limiter fixed-window, acquire and run",
  tokenBucket: "rate limiter token-bucket, acquire and run",
  slidingWindow: "rate limiter sliding-window, acquire and run",
  bulkhead: "bulkhead uncontended, success",
  retry: "retry, success without retry",
  timeLimiter: "time limiter, success",
  stack: "full stack, metrics off"
} as const

/** Cases whose floor is the failure floor (a failed call costs the runtime more than a success). */
export const failureCases: ReadonlySet<string> = new Set([TargetCase.breakerFailure, TargetCase.breakerOpen])

/** The name of a case in the build for Effect `major`: "ours on Effect 4: breaker closed, …". */
export const onTarget = (major: 3 | 4, name: string): string => `ours on Effect ${major}: ${name}`
