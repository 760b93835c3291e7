/**
 * A `Policy` is typed middleware: a function from an effect to the same effect with a guard around it,
 * which may add errors (a refusal) and requirements. Every guard offers one (`CircuitBreaker.policy`,
 * ...), and `compose` stacks them.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"

/**
 * Guards any effect whose errors are `EIn` and whose values are `AIn` (both `unknown` unless the guard
 * has typed predicates), adding `EAdded` to its errors and `RAdded` to its requirements.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { Policy } from "breakwater"
 *
 * const logged: Policy.Policy = (self) => Effect.tap(self, () => Effect.log("done"))
 * ```
 *
 * @since 0.1.0
 */
export interface Policy<out EAdded = never, out RAdded = never, in EIn = unknown, in AIn = unknown> {
  <A extends AIn, E extends EIn, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | EAdded, R | RAdded>
}
