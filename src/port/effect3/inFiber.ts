/**
 * In-fiber time limits on Effect 3 (see src/guards/internal/deadlines.ts for how they are used): an
 * overrunning call is interrupted in its caller's fiber, through the fiber's own message queue (a
 * "stateful" message, as `Fiber.status` uses), by a FiberId unique to the call, added to the fiber's
 * interrupted cause; the guard's handler later removes that one interruption and turns it into its
 * typed timeout error. Unlike `Fiber.unsafeInterruptAsFork`, this does not signal the caller's other
 * child fibers (which have nothing to do with the call).
 *
 * That needs four members of Effect 3's `FiberRuntime` that its public `RuntimeFiber` type does not
 * show (`tell`, `addInterruptedCause`, `_asyncInterruptor`, and the `currentInterruptedCause` FiberRef,
 * found under its global key). {@link inFiberSupported} checks they are there; where they are not,
 * callers fall back to a fork per call (the same semantics). `../effect4/inFiber.ts` has the same names.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as HashSet from "effect/HashSet"
import * as RuntimeFlags from "effect/RuntimeFlags"

/** The id a deadline interrupts its call as: 3 a `FiberId` of its own, 4 a number. */
export type Interruptor = FiberId.FiberId

/** What the in-fiber functions read and write of a deadline (`Deadline` in deadlines.ts). */
export interface InFiberDeadline {
  /** The call has finished: the timer must not touch it anymore. */
  readonly done: boolean
  /** Set once the caller's fiber has recorded the interruption; its id is then in the fiber's cause. */
  interruptor: Interruptor | undefined
  /** The caller's fiber. */
  readonly target: unknown
}

/** The members of Effect 3's FiberRuntime used here (see the module comment). */
interface FiberInternals {
  tell(message: { readonly _tag: "Stateful"; readonly onFiber: (fiber: FiberInternals, status: Status) => void }): void
  addInterruptedCause(cause: Cause.Cause<never>): void
  _asyncInterruptor: ((effect: Effect.Effect<unknown, unknown>) => unknown) | null
  readonly currentScheduler: { scheduleTask(task: () => void, priority: number): void }
}

interface Status {
  readonly _tag: "Done" | "Running" | "Suspended"
}

let ownInterruptedCause = false
/** Effect's own FiberRef holding the fiber's interrupted cause (registered by effect's core module). */
const currentInterruptedCause: FiberRef.FiberRef<Cause.Cause<never>> = globalValue(
  Symbol.for("effect/FiberRef/currentInterruptedCause"),
  () => {
    ownInterruptedCause = true
    return undefined as unknown as FiberRef.FiberRef<Cause.Cause<never>>
  }
)

const hasInternals = (fiber: unknown): fiber is FiberInternals => {
  const f = fiber as Partial<FiberInternals>
  return typeof f.tell === "function" && typeof f.addInterruptedCause === "function" && "_asyncInterruptor" in f &&
    typeof f.currentScheduler?.scheduleTask === "function"
}

let supported: boolean | undefined
/** Whether this Effect runtime has what in-fiber time limits need (checked once, on a real fiber). */
export const inFiberSupported = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => {
  if (supported === undefined) {
    supported = !ownInterruptedCause && hasInternals(fiber) &&
      Cause.isEmpty(fiber.getFiberRef(currentInterruptedCause) ?? Cause.fail("missing"))
  }
  return supported
}

/** Tests only: pretend the internals are missing (`false`), or check again (`undefined`). */
export const overrideInFiberSupport = (value: boolean | undefined): void => {
  supported = value
}

/** Interruptor ids for timed-out calls: negative, so they never equal a real fiber's id. */
let nextInterruptorId = 0

// ---- interrupting a call in its caller's fiber ---------------------------------------------------

/**
 * The expiry of a call running in `fiber`: records an interruption by an id of the call's own, then
 * wakes the fiber if it waits interruptibly. Runs on the caller's fiber, through its message queue.
 * A fiber found running (it had just been resumed) is asked again on the next scheduler turn, by then
 * it is suspended, or the call has finished.
 */
export const interruptInPlace = (deadline: InFiberDeadline): void => {
  const target = deadline.target as FiberInternals
  const message = {
    _tag: "Stateful" as const,
    onFiber: (self: FiberInternals, status: Status) => {
      if (deadline.done || status._tag === "Done") return
      if (deadline.interruptor === undefined) {
        deadline.interruptor = FiberId.make(--nextInterruptorId, 0)
        self.addInterruptedCause(Cause.interrupt(deadline.interruptor))
      }
      if (status._tag === "Running") {
        self.currentScheduler.scheduleTask(() => self.tell(message), 0)
        return
      }
      const wake = self._asyncInterruptor
      if (wake !== null) {
        self._asyncInterruptor = null
        wake(Effect.failCause(Cause.interrupt(deadline.interruptor)))
      }
    }
  }
  target.tell(message)
}

/**
 * Runs in the guard's handler (uninterruptibly) after a call whose deadline recorded an interruption:
 * removes that interruption from the fiber's interrupted cause. True if nothing else interrupts the
 * fiber, i.e. the call ended because of its deadline alone and the caller can carry on.
 */
export const clearInterruption = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  deadline: InFiberDeadline
): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    const ours = deadline.interruptor!
    const others = HashSet.filter(
      Cause.interruptors(fiber.getFiberRef(currentInterruptedCause)),
      (id) => !Equal.equals(id, ours)
    )
    let rest: Cause.Cause<never> = Cause.empty
    for (const id of others) rest = Cause.sequential(rest, Cause.interrupt(id))
    return Effect.as(FiberRef.set(currentInterruptedCause, rest), HashSet.size(others) === 0)
  })

/**
 * Runs `f` with the calling fiber and whether it is interruptible there: 3 `Effect.withFiberRuntime` and
 * `RuntimeFlags.interruption`, 4 `Effect.withFiber` and the fiber's `interruptible`.
 */
export const withCallerFiber = <A, E, R>(
  f: (fiber: Fiber.RuntimeFiber<unknown, unknown>, interruptible: boolean) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber, status) => f(fiber, RuntimeFlags.interruption(status.runtimeFlags)))

/** Whether the cause holds nothing at all: 3 `Cause.isEmpty`, 4 no reasons. */
export const isEmptyCause = <E>(cause: Cause.Cause<E>): boolean => Cause.isEmpty(cause)
