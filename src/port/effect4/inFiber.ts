/**
 * In-fiber time limits on Effect 4: not supported yet. Effect 3's implementation
 * (`../effect3/inFiber.ts`) records an interruption of the call's own in the caller's fiber through
 * members of Effect 3's `FiberRuntime`; Effect 4's fiber has no counterpart to remove one
 * interruption again. {@link inFiberSupported} is therefore false and the time limiter takes its
 * documented fallback, a fork per call with the same semantics. The other names exist so that the
 * shared sources type-check; they are never reached while `inFiberSupported` is false.
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"

/** The id a deadline interrupts its call as: 3 a `FiberId` of its own, 4 a number. */
export type Interruptor = number

/** What the in-fiber functions read and write of a deadline (`Deadline` in deadlines.ts). */
export interface InFiberDeadline {
  /** The call has finished: the timer must not touch it anymore. */
  readonly done: boolean
  /** Set once the caller's fiber has recorded the interruption; its id is then in the fiber's cause. */
  interruptor: Interruptor | undefined
  /** The caller's fiber. */
  readonly target: unknown
}

/** Whether in-fiber time limits can be used: never on Effect 4 (see the module comment). */
export const inFiberSupported = (_fiber: Fiber.Fiber<unknown, unknown>): boolean => false

/** Tests only (pretend the internals are missing, or check again): nothing to override on Effect 4. */
export const overrideInFiberSupport = (_value: boolean | undefined): void => {}

const unsupported = "breakwater: in-fiber time limits are not supported on Effect 4"

/** Never reached on Effect 4 (`inFiberSupported` is false). */
export const interruptInPlace = (_deadline: InFiberDeadline): void => {
  throw new Error(unsupported)
}

/** Never reached on Effect 4 (`inFiberSupported` is false). */
export const clearInterruption = (
  _fiber: Fiber.Fiber<unknown, unknown>,
  _deadline: InFiberDeadline
): Effect.Effect<boolean> => Effect.die(new Error(unsupported))

/**
 * Runs `f` with the calling fiber and whether it is interruptible there: 3 `Effect.withFiberRuntime` and
 * `RuntimeFlags.interruption`, 4 `Effect.withFiber` and the fiber's `interruptible` (a member of its
 * runtime that the public `Fiber` type does not show; only the in-fiber path, unused on 4, reads it).
 */
export const withCallerFiber = <A, E, R>(
  f: (fiber: Fiber.Fiber<unknown, unknown>, interruptible: boolean) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => f(fiber, (fiber as { readonly interruptible?: boolean }).interruptible !== false))

/** Whether the cause holds nothing at all: 3 `Cause.isEmpty`, 4 no reasons. */
export const isEmptyCause = <E>(cause: Cause.Cause<E>): boolean => cause.reasons.length === 0
