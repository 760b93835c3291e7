/**
 * One circuit breaker per key: the public `Keyed` interface and `keyed`, over the keyed shell of
 * `keyedCircuitBreaker.ts` (the table of keys, their scopes and eviction). In process every key's
 * breaker shares one decoded configuration; with a `Store`, each is made as `CircuitBreaker.make`
 * makes it.
 *
 * @internal
 */
import { currentClock, decodeOptions, scopeProvide } from "#port"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import type { LazyScope } from "../../shared/internal/lazyScope.js"
import type { Policy } from "../../shared/Policy.js"
import { Store } from "../../store/Store.js"
import type { CallNotPermittedError, CircuitBreaker, KeyedOptions } from "./circuitBreakerApi.js"
import { OptionsSchema } from "./circuitBreakerConfig.js"
import { CircuitBreakerImpl } from "./circuitBreakerImpl.js"
import { settingsOf } from "./inProcessCircuitSettings.js"
import { makeKeyedShell } from "./keyedCircuitBreaker.js"
import { makeCircuitBreaker } from "./makeCircuitBreaker.js"

/**
 * One breaker per string key (per tenant, per host), as Effect 4's `effect/persistence` CircuitBreaker
 * serves many keys: each key's breaker is made on first use from the same options, named `name:key`,
 * dropped after `idleTimeToLive` unused, and the live keys are bounded by `maxKeys`. One key's state
 * never refuses another key's calls.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const perTenant = yield* CircuitBreaker.keyed({ name: "tenant", minimumNumberOfCalls: 10 })
 *     return yield* Effect.succeed("report").pipe(perTenant.withCircuitBreaker("acme"))
 *   })
 * )
 * ```
 *
 * @since 0.2.0
 */
export interface Keyed<in E = unknown, in A = unknown> {
  /** Guards `self` with the key's breaker. */
  readonly withCircuitBreaker: (
    key: string
  ) => <A2 extends A, E2 extends E, R>(
    self: Effect.Effect<A2, E2, R>
  ) => Effect.Effect<A2, E2 | CallNotPermittedError, R>
  /** The key's breaker as a {@link Policy}. */
  readonly policy: (key: string) => Policy<CallNotPermittedError, never, E, A>
  /** The keys with a live breaker, least recently used first. */
  readonly keys: Effect.Effect<ReadonlyArray<string>>
  /** The live breakers (give them to `Snapshot.ofGuards` or `Health.ofGuards`). */
  readonly guards: Effect.Effect<ReadonlyArray<CircuitBreaker<E, A>>>
  /** Live keys, the bound, keys dropped so far, and calls run unguarded because every key was pinned. */
  readonly metrics: Effect.Effect<KeyedMetrics>
}

/**
 * The figures of a {@link Keyed} breaker.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "breakwater"
 *
 * const full = (m: CircuitBreaker.KeyedMetrics) => m.keys >= m.maxKeys
 * ```
 *
 * @since 0.2.0
 */
export interface KeyedMetrics {
  readonly keys: number
  readonly maxKeys: number
  readonly evictedKeys: number
  readonly untrackedCalls: number
}

/**
 * Creates a {@link Keyed} breaker in the current scope. Fails with `InvalidConfigError` on bad options
 * (the per-key options are checked at once, not on the first key).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * const perHost = CircuitBreaker.keyed({ name: "hosts", maxKeys: 1_000, idleTimeToLive: "5 minutes" })
 * const program = Effect.scoped(Effect.flatMap(perHost, (breakers) => breakers.keys))
 * ```
 *
 * @since 0.2.0
 */
export const keyed = <E = unknown, A = unknown>(
  options: KeyedOptions<E, A>
): Effect.Effect<Keyed<E, A>, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const { idleTimeToLive, maxKeys, track, ...perKey } = options
    const config = yield* decodeOptions(OptionsSchema, "CircuitBreaker", perKey)
    // In process, every key shares the decoded options and the machine's settings (a key then costs
    // its own state only); with a store, each key's breaker is made as `make` makes it.
    const inProcess = Option.isNone(yield* Effect.serviceOption(Store))
    const settings = settingsOf(config, perKey)
    const makeKey = (name: string, scope: LazyScope): Effect.Effect<CircuitBreaker<E, A>, InvalidConfigError> =>
      inProcess
        ? Effect.map(currentClock, (clock) => new CircuitBreakerImpl<E, A>(name, settings, clock, scope))
        : Effect.flatMap(scope.scope, (forked) => scopeProvide(makeCircuitBreaker<E, A>({ ...perKey, name }), forked))
    const shell = yield* makeKeyedShell<CircuitBreaker<E, A>>(
      { name: options.name, maxKeys, idleTimeToLive, track },
      makeKey,
      // The guard only sees effects `Keyed`'s signature already restricted to `E` and `A`.
      (self, breaker) => (breaker as CircuitBreakerImpl<any, any>).guard(self),
      (breaker, now) => {
        // A shared breaker's state lives in its store: dropping the local instance forgets nothing.
        if (!(breaker instanceof CircuitBreakerImpl)) return false
        return breaker.refusesNow(now)
      }
    )
    const guardKey = (key: string) => shell.guard(key) as Policy<CallNotPermittedError, never, E, A>
    return {
      withCircuitBreaker: guardKey,
      policy: guardKey,
      keys: shell.keys,
      guards: shell.guards,
      metrics: shell.figures
    } satisfies Keyed<E, A>
  })
