/**
 * Where guards keep the state that several processes must share. By default every guard keeps its state
 * in process (the embedded in-memory store: the pure cores of `src/internal/`); providing a {@link Store}
 * — e.g. `RedisStore.layer(...)` — to the effect that makes a guard makes that guard share its state with
 * every process that uses the same store and name.
 *
 * A guard knows only this interface, never Redis: the Redis implementation lives in `src/redis/`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type { CircuitBreakerStore } from "./store/CircuitBreakerStore.js"
import type { RateLimiterStore } from "./store/RateLimiterStore.js"

export type {
  CallOutcome,
  CircuitAdmission,
  CircuitBreakerStore,
  CircuitChange,
  CircuitReply,
  CircuitSettings,
  CircuitSnapshot
} from "./store/CircuitBreakerStore.js"
export type { Grant, RateLimiterStore, SharedLimit } from "./store/RateLimiterStore.js"

/**
 * The shared store could not be reached or answered wrongly. Guards surface it only under
 * `onStoreFailure: "fail-closed"` (refused with this error) — the other modes hide it. A circuit breaker
 * refuses with its usual `CallNotPermittedError`, carrying this error as its `cause`, so the error type
 * of the effects it guards stays the same.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Store } from "breakwater"
 *
 * const describe = (error: Store.StoreError) => `${error.store} ${error.operation}: ${error.message}`
 * ```
 *
 * @since 0.1.0
 */
export class StoreError extends Data.TaggedError("StoreError")<{
  /** Which store failed, e.g. `redis`. */
  readonly store: string
  /** What the guard was doing, e.g. `rateLimiter.acquire`. */
  readonly operation: string
  /** The guard's name (the shared key without the store's prefix). */
  readonly key: string
  readonly cause: unknown
}> {
  override get message(): string {
    const reason = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `${this.store} store failed during ${this.operation} of "${this.key}": ${reason}`
  }
}

/**
 * What a guard does while its shared store is unreachable:
 * - `"local-fallback"` (default): decide in process with an in-memory guard of the same configuration,
 *   and count/log the fallback; switch back to the shared state once the store answers again.
 * - `"fail-open"`: let every call through (the guard does nothing while the store is down).
 * - `"fail-closed"`: refuse every call with a {@link StoreError}.
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
export class Store extends Context.Tag("breakwater/Store")<Store, {
  /** The store's name, for errors, logs and metrics (e.g. `redis`). */
  readonly name: string
  /** The default failure mode of guards made with this store (each guard may override it). */
  readonly onStoreFailure: OnStoreFailure
  readonly rateLimiter: RateLimiterStore
  readonly circuitBreaker: CircuitBreakerStore
}>() {}
