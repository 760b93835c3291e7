/**
 * Runtime names the HTTP edges need (layers with several services, a scoped unwrap, a made-now
 * `Deferred`, a value local to a fiber and its children), in Effect 3's types. `../effect4/edgeRuntime.ts`
 * has the same names.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"

/** A layer of the services `make` puts in a context, made in the layer's scope: 3 `Layer.scopedContext`, 4 `Layer.effectContext`. */
export const layerContext = <A, E, R>(
  make: Effect.Effect<Context.Context<A>, E, R>
): Layer.Layer<A, E, Exclude<R, Scope.Scope>> => Layer.scopedContext(make)

/** The layer an effect makes, the effect run in the layer's scope: 3 `Layer.unwrapScoped`, 4 `Layer.unwrap`. */
export const unwrapLayerScoped = <A, E1, R1, E, R>(
  effect: Effect.Effect<Layer.Layer<A, E1, R1>, E, R>
): Layer.Layer<A, E | E1, R1 | Exclude<R, Scope.Scope>> => Layer.unwrapScoped(effect)

/** A `Deferred` made synchronously: 3 `Deferred.unsafeMake(FiberId.none)`, 4 `Deferred.makeUnsafe()`. */
export const makeDeferredNow = <A, E = never>(): Deferred.Deferred<A, E> => Deferred.unsafeMake<A, E>(FiberId.none)

/** A value local to a fiber and the fibers it forks: 3 a `FiberRef`, 4 a `Context.Reference`. */
export type FiberLocal<A> = FiberRef.FiberRef<A>

/** A fiber-local value, `initial` where none was set (`key` names it on Effect 4): 3 `FiberRef.unsafeMake`. */
export const makeFiberLocal = <A>(_key: string, initial: A): FiberLocal<A> => FiberRef.unsafeMake(initial)

/** Runs `self` with `local` set to `value`: 3 `Effect.locally`, 4 `Effect.provideService`. */
export const withFiberLocal = <A, E, R, V>(self: Effect.Effect<A, E, R>, local: FiberLocal<V>, value: V) =>
  Effect.locally(self, local, value)

/**
 * `local`'s value in the fiber running now (synchronously, e.g. from a callback a library calls inside
 * it), `undefined` outside any fiber: 3 `Fiber.getCurrentFiber()` + `getFiberRef`, 4 `Fiber.getCurrent()` + `getRef`.
 */
export const currentFiberLocal = <A>(local: FiberLocal<A>): A | undefined => {
  const fiber = Fiber.getCurrentFiber()
  return Option.isNone(fiber) ? undefined : fiber.value.getFiberRef(local)
}
