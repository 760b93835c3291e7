/**
 * In-fiber time limits on Effect 4 (see src/guards/internal/deadlines.ts for how they are used): an
 * overrunning call is interrupted in its caller's fiber by `Fiber.interruptUnsafe` with an id unique to
 * the call (negative, so never a real fiber's); the guard's handler, which runs uninterruptibly, later
 * removes that one interruption from the fiber's interrupted cause and turns it into its typed timeout
 * error. Like Effect 3's version (`../effect3/inFiber.ts`, same names), it does not signal the caller's
 * child fibers: Effect 4 interrupts a fiber's children only when the fiber itself ends.
 *
 * Interrupting is public (`Fiber.interruptUnsafe`, which records the interruption in the fiber and, if
 * the fiber waits interruptibly, wakes it at once); taking one interruption back is not: Effect 4 has no
 * way to clear a fiber's interruption, so {@link clearInterruption} rewrites two fields of Effect 4's
 * `FiberImpl` that its public `Fiber` type does not show, `_interruptedCause` (the interruptions
 * received, a `Cause`) and `_deferredInterrupt` (an interruption received while the fiber was running,
 * not yet acted on). Checked against effect 4.1.0 (the benchmark's) and 4.1.5 (the Effect 4 target's):
 * `FiberImpl.interruptUnsafe` adds to `_interruptedCause`; `exitFailCause`, `setInterruptible` and
 * `interruptible` re-raise it whenever the fiber is or becomes interruptible, which is why the handler
 * clears it before its uninterruptible region ends. {@link inFiberSupported} checks the shape on a real
 * fiber; where it differs (a later Effect 4), callers fall back to a fork per call (the same semantics).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
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

/** The members of Effect 4's `FiberImpl` used here (see the module comment). */
interface FiberInternals {
  readonly interruptible: boolean
  _interruptedCause: Cause.Cause<never> | undefined
  _deferredInterrupt: boolean
  interruptUnsafe(fiberId?: number): void
  pollUnsafe(): unknown
}

const hasInternals = (fiber: unknown): fiber is FiberInternals => {
  const f = fiber as Partial<FiberInternals>
  const cause = f._interruptedCause
  return typeof f.interruptUnsafe === "function" && typeof f.pollUnsafe === "function" &&
    typeof f.interruptible === "boolean" && typeof f._deferredInterrupt === "boolean" &&
    "_interruptedCause" in f && (cause === undefined || Array.isArray(cause.reasons))
}

/** An interruption by `id` is recognisable by its reason's `fiberId` (what clearInterruption matches). */
const interruptsCarryIds = (): boolean => {
  const reason = Cause.interrupt(-1).reasons[0]
  return reason !== undefined && Cause.isInterruptReason(reason) && reason.fiberId === -1
}

let supported: boolean | undefined
/** Whether this Effect runtime has what in-fiber time limits need (checked once, on a real fiber). */
export const inFiberSupported = (fiber: Fiber.Fiber<unknown, unknown>): boolean => {
  if (supported === undefined) supported = hasInternals(fiber) && interruptsCarryIds()
  return supported
}

/** Tests only: pretend the internals are missing (`false`), or check again (`undefined`). */
export const overrideInFiberSupport = (value: boolean | undefined): void => {
  supported = value
}

/** Interruptor ids for timed-out calls: negative, so they never equal a real fiber's id. */
let nextInterruptorId = 0

/**
 * The expiry of a call running in its caller's fiber: interrupts the fiber by an id of the call's own.
 * Runs on the timer's fiber; Effect 4 lets any fiber interrupt another directly (`Fiber.interrupt` does
 * the same): the interruption is recorded at once, and a fiber waiting interruptibly is resumed on this
 * stack, one that is running (nested under the timer) acts on it at its next step, one that is
 * uninterruptible when it next becomes interruptible.
 */
export const interruptInPlace = (deadline: InFiberDeadline): void => {
  const target = deadline.target as FiberInternals
  if (deadline.done || deadline.interruptor !== undefined || target.pollUnsafe() !== undefined) return
  deadline.interruptor = --nextInterruptorId
  target.interruptUnsafe(deadline.interruptor)
}

/**
 * Runs in the guard's handler (uninterruptibly) after a call whose deadline recorded an interruption:
 * removes that interruption from the fiber's interrupted cause. True if nothing else interrupts the
 * fiber, i.e. the call ended because of its deadline alone and the caller can carry on.
 */
export const clearInterruption = (
  fiber: Fiber.Fiber<unknown, unknown>,
  deadline: InFiberDeadline
): Effect.Effect<boolean> =>
  Effect.sync(() => {
    const self = fiber as unknown as FiberInternals
    const ours = deadline.interruptor
    const cause = self._interruptedCause
    if (cause === undefined) return true
    const rest = cause.reasons.filter((reason) => !(Cause.isInterruptReason(reason) && reason.fiberId === ours))
    if (rest.length > 0) {
      self._interruptedCause = rest.length === cause.reasons.length ? cause : Cause.fromReasons(rest)
      return false
    }
    self._interruptedCause = undefined
    self._deferredInterrupt = false
    return true
  })

/**
 * Runs `f` with the calling fiber and whether it is interruptible there: 3 `Effect.withFiberRuntime` and
 * `RuntimeFlags.interruption`, 4 `Effect.withFiber` and the fiber's `interruptible` (a member of its
 * runtime that the public `Fiber` type does not show; {@link inFiberSupported} checks it is there).
 */
export const withCallerFiber = <A, E, R>(
  f: (fiber: Fiber.Fiber<unknown, unknown>, interruptible: boolean) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => f(fiber, (fiber as { readonly interruptible?: boolean }).interruptible !== false))

/** Whether the cause holds nothing at all: 3 `Cause.isEmpty`, 4 no reasons. */
export const isEmptyCause = <E>(cause: Cause.Cause<E>): boolean => cause.reasons.length === 0
