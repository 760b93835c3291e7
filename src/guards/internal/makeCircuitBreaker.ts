/**
 * Makes a circuit breaker: in process, or on the shared state of the `Store` provided. Below the public
 * `CircuitBreaker.make` and the keyed breaker, which makes each key's breaker with it when a store is
 * provided.
 *
 * @internal
 */
import { currentClock, decodeOptions } from "#port"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import { makeEventHub } from "../../shared/internal/eventHub.js"
import { Store } from "../../store/Store.js"
import type { CircuitBreaker, Event, Options } from "./circuitBreakerApi.js"
import { OptionsSchema } from "./circuitBreakerConfig.js"
import { CircuitBreakerImpl } from "./circuitBreakerImpl.js"
import { makeDistributed } from "./distributedCircuitBreaker.js"
import { sharedSettings } from "./inProcessCircuitSettings.js"

export const makeCircuitBreaker = <E = unknown, A = unknown>(
  options: Options<E, A>
): Effect.Effect<CircuitBreaker<E, A>, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* Effect.serviceOption(Store)
    const clock = yield* currentClock
    const scope = yield* Effect.scope
    if (Option.isNone(store)) {
      const settings = yield* sharedSettings(options)
      return new CircuitBreakerImpl<E, A>(options.name, settings, clock, scope)
    }
    const config = yield* decodeOptions(OptionsSchema, "CircuitBreaker", options)
    const hub = yield* makeEventHub<Event>()
    return yield* makeDistributed<E, A>({
      options,
      config,
      clock,
      scope,
      hub,
      store: store.value.circuitBreaker,
      storeName: store.value.name,
      onStoreFailure: config.onStoreFailure ?? store.value.onStoreFailure
    })
  })
