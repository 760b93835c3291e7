/**
 * Run-time combinators whose name or shape differs between Effect 3 and 4, in Effect 4's form (see
 * `../effect3/runtime.ts`).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"

/** A layer built by an effect whose `Scope` lives as long as the layer: `Layer.effect` (3: `Layer.scoped`). */
export const layerScoped = <I, S, E, R>(
  key: Context.Key<I, S>,
  effect: Effect.Effect<NoInfer<S>, E, R>
): Layer.Layer<I, E, Exclude<R, Scope.Scope>> => Layer.effect(key, effect)

/** Dies with an error carrying `message`: `Effect.die(new Error(message))` (3: `Effect.dieMessage`). */
export const dieMessage = (message: string): Effect.Effect<never> => Effect.die(new Error(message))

/**
 * Whether the cause holds interruptions only: every reason an interrupt (an empty cause counts, as
 * Effect 3's `Cause.isInterruptedOnly` has it; `Cause.hasInterruptsOnly` says false for it).
 */
export const isInterruptOnly = <E>(cause: Cause.Cause<E>): boolean => cause.reasons.every(Cause.isInterruptReason)

/** The first typed failure of a cause: `Cause.findErrorOption` (3: `Cause.failureOption`). */
export const failureOf = <E>(cause: Cause.Cause<E>): Option.Option<E> => Cause.findErrorOption(cause)

/** The first defect of a cause: `Cause.findDefect` as an `Option` (3: `Cause.dieOption`). */
export const defectOf = <E>(cause: Cause.Cause<E>): Option.Option<unknown> =>
  Result.match(Cause.findDefect(cause), { onSuccess: Option.some, onFailure: () => Option.none() })

/** A running fiber, as `forkChild` returns it: `Fiber.Fiber` (3: `Fiber.RuntimeFiber`). */
export type FiberHandle<A, E> = Fiber.Fiber<A, E>

/** Runs `self` on a child fiber of the current one: `Effect.forkChild` (3: `Effect.fork`). */
export const forkChild = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<FiberHandle<A, E>, never, R> =>
  Effect.forkChild(self)
