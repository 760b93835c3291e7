/**
 * Where guards keep the state that several processes must share. By default every guard keeps its state
 * in process (the embedded in-memory store: the pure cores of `src/core/`); providing a {@link Store}
 * — e.g. `RedisStore.layer(...)` — to the effect that makes a guard makes that guard share its state with
 * every process that uses the same store and name.
 *
 * A guard knows only this interface, never Redis: the Redis implementation lives in `src/redis/`.
 *
 * @since 0.1.0
 */
import { Service } from "#port"
import type { CircuitBreakerStore } from "./CircuitBreakerStore.js"
import { StoreError } from "./internal/storeError.js"
import type { RateLimiterStore } from "./RateLimiterStore.js"

export type {
  CallOutcome,
  CircuitAdmission,
  CircuitBreakerStore,
  CircuitChange,
  CircuitReply,
  CircuitSettings,
  CircuitSnapshot
} from "./CircuitBreakerStore.js"
export { StoreError } from "./internal/storeError.js"
export type { Grant, LearnedQuota, QuotaTaken, RateLimiterStore, SharedLimit } from "./RateLimiterStore.js"

/**
 * What a guard does while its shared store is unreachable:
 * - `"local-fallback"` (default): decide in process with an in-memory guard of the same configuration,
 *   and count/log the fallback; switch back to the shared state once the store answers again.
 * - `"fail-open"`: let every call through (the guard does nothing while the store is down).
 * - `"fail-closed"`: refuse every call with the guard's usual refusal (`RequestNotPermittedError`,
 *   `CallNotPermittedError`) whose `cause` is the {@link StoreError} ({@link isStoreFailure} is true for
 *   it). A circuit breaker decides a Closed call from its cached state and learns of the outage when
 *   recording it: the first call after the store dies in Closed still runs, the next ones are refused.
 *
 * @example
 * ```ts
 * import type { Store } from "breakwater"
 *
 * const strict: Store.OnStoreFailure = "fail-closed"
 * ```
 *
 * @since 0.1.0
 */
export type OnStoreFailure = "fail-open" | "fail-closed" | "local-fallback"

/**
 * A shared store for guards' state. Provide one (e.g. `RedisStore.layer`) where guards are made.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Store } from "breakwater"
 *
 * const where = Effect.map(Effect.serviceOption(Store.Store), (store) => store._tag === "Some" ? store.value.name : "memory")
 * ```
 *
 * @since 0.1.0
 */
export class Store extends Service<Store, {
  /** The store's name, for errors, logs and metrics (e.g. `redis`). */
  readonly name: string
  /** The default failure mode of guards made with this store (each guard may override it). */
  readonly onStoreFailure: OnStoreFailure
  readonly rateLimiter: RateLimiterStore
  readonly circuitBreaker: CircuitBreakerStore
}>()("breakwater/Store") {}

/**
 * Whether a guard's refusal was caused by its shared store being unreachable (`onStoreFailure:
 * "fail-closed"`): true for a `RequestNotPermittedError` or `CallNotPermittedError` whose `cause` is a
 * {@link StoreError} (and for a `StoreError` itself), false for refusals made by the guard's own rules
 * and for anything else.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker, Store } from "breakwater"
 *
 * const withCache = (self: Effect.Effect<string, CircuitBreaker.CallNotPermittedError>) =>
 *   self.pipe(
 *     Effect.catchTag("CallNotPermittedError", (error) =>
 *       Effect.succeed(Store.isStoreFailure(error) ? "cached: shared state unreachable" : "cached: circuit open")
 *     )
 *   )
 * ```
 *
 * @since 0.1.0
 */
export const isStoreFailure = (error: unknown): boolean => {
  if (error instanceof StoreError) return true
  if (typeof error !== "object" || error === null) return false
  const tag = (error as { readonly _tag?: unknown })._tag
  if (tag !== "RequestNotPermittedError" && tag !== "CallNotPermittedError") return false
  return (error as { readonly cause?: unknown }).cause instanceof StoreError
}
