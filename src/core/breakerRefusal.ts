/**
 * Lets other modules ask, without an Effect, whether a breaker refuses calls right now (Open before its
 * wait ends, or ForcedOpen). Tables that evict per-key guards use it so that evicting never forgets a
 * circuit that is still cutting a dependency off. A breaker whose state lives in a shared store answers
 * `false`: dropping its local instance forgets nothing.
 *
 * @internal
 */

/**
 * The method a breaker that can tell implements (on its prototype: nothing per breaker, where a
 * `WeakMap` entry and a closure per breaker cost ~100 bytes each of many thousands of keyed breakers).
 */
export const RefusalProbe: unique symbol = Symbol.for("breakwater/CircuitBreaker/RefusalProbe")

/** Whether `breaker` refuses calls at `nowMillis`; `false` for a breaker without a probe. */
export const isRefusing = (breaker: object, nowMillis: number): boolean => {
  const probe = (breaker as { readonly [RefusalProbe]?: (nowMillis: number) => boolean })[RefusalProbe]
  return typeof probe === "function" ? probe.call(breaker, nowMillis) : false
}
