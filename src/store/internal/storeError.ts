/**
 * The error of an unreachable or misbehaving shared store, below both the store interfaces that fail
 * with it and the `Store` module that names them (which re-exports it), so that neither imports the other.
 *
 * @internal
 */
import * as Data from "effect/Data"

/**
 * The shared store could not be reached or answered wrongly. Guards surface it only under
 * `onStoreFailure: "fail-closed"` — the other modes hide it — and never as an error of its own: a rate
 * limiter refuses with its usual `RequestNotPermittedError` and a circuit breaker with its usual
 * `CallNotPermittedError`, each carrying this error as its `cause`, so the error type of the effects they
 * guard stays the same. `Store.isStoreFailure` tells such a refusal apart.
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
