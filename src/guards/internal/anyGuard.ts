/**
 * The union of every kind of guard, in the guards' layer so that what reads guards (their internals,
 * the registry, observability) names it without importing the registry. `Registry` re-exports it.
 *
 * @internal
 */
import type * as AdaptiveLimiter from "../AdaptiveLimiter.js"
import type * as AdaptiveThrottler from "../AdaptiveThrottler.js"
import type * as Bulkhead from "../Bulkhead.js"
import type * as CircuitBreaker from "../CircuitBreaker.js"
import type * as Hedge from "../Hedge.js"
import type * as RateLimiter from "../RateLimiter.js"
import type * as Retry from "../Retry.js"
import type * as TimeLimiter from "../TimeLimiter.js"

/**
 * Any guard a registry holds; `kind` tells which.
 *
 * @example
 * ```ts
 * import type { Registry } from "breakwater"
 *
 * const label = (guard: Registry.Guard) => `${guard.kind} ${guard.name}`
 * ```
 *
 * @since 0.1.0
 */
export type Guard =
  | CircuitBreaker.CircuitBreaker<any, any>
  | RateLimiter.RateLimiter
  | Bulkhead.Bulkhead
  | TimeLimiter.TimeLimiter
  | Retry.Retry<any, any>
  | AdaptiveLimiter.AdaptiveLimiter
  | AdaptiveThrottler.AdaptiveThrottler
  | Hedge.Hedge
