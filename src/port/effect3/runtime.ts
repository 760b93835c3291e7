/**
 * Runtime names that differ between Effect 3 and Effect 4 (Effect 3's side; `../effect4/runtime.ts`
 * has the same names). Each entry says what it maps to in both.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"

/** A service key named `key` for the interface `S` (Effect 3: `Context.GenericTag`; Effect 4: `Context.Service`). */
export const serviceKey = <S>(key: string): Context.Tag<S, S> => Context.GenericTag<S>(key)

/** A layer built by a scoped effect (Effect 3: `Layer.scoped`; Effect 4: `Layer.effect`, which is scoped). */
export const layerScoped = <I, S, E, R>(
  key: Context.Tag<I, S>,
  effect: Effect.Effect<S, E, R>
): Layer.Layer<I, E, Exclude<R, Scope.Scope>> => Layer.scoped(key, effect)

/** A semaphore (Effect 3: `Effect.Semaphore`; Effect 4: `Semaphore.Semaphore`). */
export type Semaphore = Effect.Semaphore

/** A semaphore made synchronously (Effect 3: `Effect.unsafeMakeSemaphore`; Effect 4: `Semaphore.makeUnsafe`). */
export const makeSemaphoreNow = (permits: number): Semaphore => Effect.unsafeMakeSemaphore(permits)

/** Runs an effect in `scope` (Effect 3: `Scope.extend`; Effect 4: `Scope.provide`). */
export const scopeProvide =
  (scope: Scope.Scope) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, Exclude<R, Scope.Scope>> =>
    Scope.extend(effect, scope)

/** Publishes synchronously (Effect 3: `pubsub.unsafeOffer`; Effect 4: `PubSub.publishUnsafe`). */
export const publishNow = <A>(pubsub: PubSub.PubSub<A>, value: A): boolean => pubsub.unsafeOffer(value)
