/**
 * Runtime names that differ between Effect 3 and Effect 4 (Effect 4's side; see `../effect3/runtime.ts`).
 *
 * @internal
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"
import * as Semaphores from "effect/Semaphore"

/** A service key named `key` for the interface `S` (Effect 3: `Context.GenericTag`; Effect 4: `Context.Service`). */
export const serviceKey = <S>(key: string): Context.Key<S, S> => Context.Service<S>(key)

/** A layer built by a scoped effect (Effect 3: `Layer.scoped`; Effect 4: `Layer.effect`, which is scoped). */
export const layerScoped = <I, S, E, R>(
  key: Context.Key<I, S>,
  effect: Effect.Effect<S, E, R>
): Layer.Layer<I, E, Exclude<R, Scope.Scope>> => Layer.effect(key, effect)

/** A semaphore (Effect 3: `Effect.Semaphore`; Effect 4: `Semaphore.Semaphore`). */
export type Semaphore = Semaphores.Semaphore

/** A semaphore made synchronously (Effect 3: `Effect.unsafeMakeSemaphore`; Effect 4: `Semaphore.makeUnsafe`). */
export const makeSemaphoreNow = (permits: number): Semaphore => Semaphores.makeUnsafe(permits)

/** Runs an effect in `scope` (Effect 3: `Scope.extend`; Effect 4: `Scope.provide`). */
export const scopeProvide =
  (scope: Scope.Scope) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, Exclude<R, Scope.Scope>> =>
    Scope.provide(effect, scope)

/** Publishes synchronously (Effect 3: `pubsub.unsafeOffer`; Effect 4: `PubSub.publishUnsafe`). */
export const publishNow = <A>(pubsub: PubSub.PubSub<A>, value: A): boolean => PubSub.publishUnsafe(pubsub, value)
