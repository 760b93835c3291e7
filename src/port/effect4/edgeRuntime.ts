/**
 * Runtime names the HTTP edges need, in Effect 4's types (see `../effect3/edgeRuntime.ts`).
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"

/** A layer of the services `make` puts in a context, made in the layer's scope: 3 `Layer.scopedContext`, 4 `Layer.effectContext`. */
export const layerContext = <A, E, R>(
  make: Effect.Effect<Context.Context<A>, E, R>
): Layer.Layer<A, E, Exclude<R, Scope.Scope>> => Layer.effectContext(make)

/** The layer an effect makes, the effect run in the layer's scope: 3 `Layer.unwrapScoped`, 4 `Layer.unwrap`. */
export const unwrapLayerScoped = <A, E1, R1, E, R>(
  effect: Effect.Effect<Layer.Layer<A, E1, R1>, E, R>
): Layer.Layer<A, E | E1, R1 | Exclude<R, Scope.Scope>> => Layer.unwrap(effect)

/** A `Deferred` made synchronously: 3 `Deferred.unsafeMake(FiberId.none)`, 4 `Deferred.makeUnsafe()`. */
export const makeDeferredNow = <A, E = never>(): Deferred.Deferred<A, E> => Deferred.makeUnsafe<A, E>()

/** A value local to a fiber and the fibers it forks: 3 a `FiberRef`, 4 a `Context.Reference`. */
export type FiberLocal<A> = Context.Reference<A>

/** A fiber-local value, `initial` where none was set: 4 `Context.Reference(key, { defaultValue })`. */
export const makeFiberLocal = <A>(key: string, initial: A): FiberLocal<A> =>
  Context.Reference<A>(key, { defaultValue: () => initial })

/** Runs `self` with `local` set to `value`: 3 `Effect.locally`, 4 `Effect.provideService`. */
export const withFiberLocal = <A, E, R, V>(self: Effect.Effect<A, E, R>, local: FiberLocal<V>, value: V) =>
  Effect.provideService(self, local, value)

/**
 * `local`'s value in the fiber running now (synchronously, e.g. from a callback a library calls inside
 * it), `undefined` outside any fiber: 4 `Fiber.getCurrent()` + `getRef`.
 */
export const currentFiberLocal = <A>(local: FiberLocal<A>): A | undefined => Fiber.getCurrent()?.getRef(local)
