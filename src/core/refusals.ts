/**
 * The errors with which breakwater's own guards refuse a call locally, before it reaches the
 * dependency. They say nothing about the dependency's health, so the guards that learn from outcomes
 * (Retry, AdaptiveLimiter, AdaptiveThrottler) must not take them for the dependency's answers.
 *
 * @internal
 */

const LOCAL_REFUSALS: ReadonlySet<unknown> = new Set([
  "CallNotPermittedError",
  "RequestNotPermittedError",
  "BulkheadFullError",
  "LimitExceededError",
  "ThrottledError"
])

/** True for a local refusal by a breakwater guard (by its tag). */
export const isLocalRefusal = (error: unknown): boolean =>
  typeof error === "object" && error !== null && LOCAL_REFUSALS.has((error as { readonly _tag?: unknown })._tag)

/** True for breakwater's timeout (`TimeLimiter`'s `TimeoutExceededError`): the dependency was too slow. */
export const isTimeout = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { readonly _tag?: unknown })._tag === "TimeoutExceededError"
