/**
 * Run-time combinators whose name or shape differs between Effect 3 and 4, in Effect 3's form; see
 * `../effect4/runtime.ts` for the same names in Effect 4.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"

/** A layer built by an effect whose `Scope` lives as long as the layer: `Layer.scoped` (4: `Layer.effect`). */
export const layerScoped = <I, S, E, R>(
  key: Context.Tag<I, S>,
  effect: Effect.Effect<NoInfer<S>, E, R>
): Layer.Layer<I, E, Exclude<R, Scope.Scope>> => Layer.scoped(key, effect)

/** Dies with an error carrying `message`: `Effect.dieMessage` (4: `Effect.die(new Error(message))`). */
export const dieMessage = (message: string): Effect.Effect<never> => Effect.dieMessage(message)

/** Whether the cause holds interruptions only: `Cause.isInterruptedOnly` (4: every reason an interrupt). */
export const isInterruptOnly = <E>(cause: Cause.Cause<E>): boolean => Cause.isInterruptedOnly(cause)

/** The first typed failure of a cause: `Cause.failureOption` (4: `Cause.findErrorOption`). */
export const failureOf = <E>(cause: Cause.Cause<E>): Option.Option<E> => Cause.failureOption(cause)

/** The first defect of a cause: `Cause.dieOption` (4: `Cause.findDefect` as an `Option`). */
export const defectOf = <E>(cause: Cause.Cause<E>): Option.Option<unknown> => Cause.dieOption(cause)

/** A running fiber, as `forkChild` returns it: `Fiber.RuntimeFiber` (4: `Fiber.Fiber`). */
export type FiberHandle<A, E> = Fiber.RuntimeFiber<A, E>

/** Runs `self` on a child fiber of the current one: `Effect.fork` (4: `Effect.forkChild`). */
export const forkChild = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<FiberHandle<A, E>, never, R> =>
  Effect.fork(self)
