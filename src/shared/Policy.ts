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

type AddedError<P> = P extends Policy<infer E, any, any, any> ? E : never
type AddedRequirement<P> = P extends Policy<any, infer R, any, any> ? R : never
type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never
type AcceptedError<P> = UnionToIntersection<P extends Policy<any, any, infer EIn, any> ? [EIn] : never> extends
  [infer I] ? I : unknown
type AcceptedValue<P> = UnionToIntersection<P extends Policy<any, any, any, infer AIn> ? [AIn] : never> extends
  [infer I] ? I : unknown
type AcceptedErrorOf<P> = P extends Policy<any, any, infer EIn, any> ? EIn : unknown

/**
 * The policies as given, except that a policy which cannot accept the errors the policies inside it add
 * (a retry typed for `HttpError`, say, outside a time limiter that adds `TimeoutExceededError`) is
 * replaced by a description of the mismatch, so `compose` fails to compile at that argument instead of
 * handing the outer policy errors its predicates were not written for.
 */
type CheckNesting<P extends ReadonlyArray<unknown>> = P extends readonly [infer Head, ...infer Tail] ? readonly [
    [AddedError<Tail[number]>] extends [AcceptedErrorOf<Head>] ? Head
      : { readonly "cannot accept errors added by the policies inside it": AddedError<Tail[number]> },
    ...CheckNesting<Tail>
  ]
  : P

/**
 * Stacks policies, outermost first: `compose(a, b, c)(call)` is `a(b(c(call)))`. The result adds the
 * union of every policy's errors and requirements. Each policy must accept the errors of the policies
 * inside it as well as the call's: a mismatch does not compile.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker, Policy } from "breakwater"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker
 * const logged: Policy.Policy = (self) => Effect.tapError(self, Effect.logWarning)
 *
 * const guard = Policy.compose(logged, CircuitBreaker.policy(breaker))
 * const call = guard(Effect.succeed(1)) // Effect<number, CallNotPermittedError>
 * ```
 *
 * @since 0.1.0
 */
export const compose = <const P extends ReadonlyArray<Policy<any, any, any, any>>>(
  ...policies: P & CheckNesting<P>
): Policy<AddedError<P[number]>, AddedRequirement<P[number]>, AcceptedError<P[number]>, AcceptedValue<P[number]>> =>
(self) => policies.reduceRight((effect: Effect.Effect<any, any, any>, policy) => policy(effect), self)

/**
 * The roles of Resilience4j's decorator order, outermost first:
 * Retry(CircuitBreaker(RateLimiter(TimeLimiter(Bulkhead(call))))).
 *
 * @example
 * ```ts
 * import { Policy } from "breakwater"
 *
 * const outermostFirst: ReadonlyArray<keyof Policy.Roles> = Policy.resilience4jOrder
 * ```
 *
 * @since 0.1.0
 */
export interface Roles {
  readonly retry?: Policy<any, any, any, any>
  readonly circuitBreaker?: Policy<any, any, any, any>
  readonly rateLimiter?: Policy<any, any, any, any>
  readonly timeLimiter?: Policy<any, any, any, any>
  readonly bulkhead?: Policy<any, any, any, any>
}

/**
 * The order {@link ordered} applies roles in, outermost first.
 *
 * @example
 * ```ts
 * import { Policy } from "breakwater"
 *
 * console.log(Policy.resilience4jOrder.join(" > ")) // retry > circuitBreaker > rateLimiter > timeLimiter > bulkhead
 * ```
 *
 * @since 0.1.0
 */
export const resilience4jOrder = ["retry", "circuitBreaker", "rateLimiter", "timeLimiter", "bulkhead"] as const

/**
 * Applies whichever policies are given in Resilience4j's order, whatever order the record lists them
 * in: retry outermost (each attempt goes through the breaker), bulkhead innermost.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker, Policy } from "breakwater"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker
 * const logged: Policy.Policy = (self) => Effect.tapError(self, Effect.logWarning)
 *
 * const guard = Policy.ordered({ circuitBreaker: CircuitBreaker.policy(breaker), retry: logged })
 * const call = guard(Effect.succeed(1)) // logged(breaker(call))
 * ```
 *
 * @since 0.1.0
 */
export const ordered = <const G extends Roles>(
  guards: G
): Policy<
  AddedError<G[keyof G]>,
  AddedRequirement<G[keyof G]>,
  AcceptedError<Exclude<G[keyof G], undefined>>,
  AcceptedValue<Exclude<G[keyof G], undefined>>
> => {
  const present = resilience4jOrder.flatMap((role) => {
    const policy = guards[role]
    return policy === undefined ? [] : [policy]
  })
  return compose(...present) as any
}
