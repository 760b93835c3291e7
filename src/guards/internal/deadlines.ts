/**
 * Time limits without a fiber per call: the call runs in the caller's own fiber, and one timer per
 * deadline lane (a FIFO of calls sharing a duration, so its head is always the earliest deadline)
 * interrupts only the calls that overrun. Used by the TimeLimiter, and through it by the HTTP client's
 * attempt and total timeouts.
 *
 * Why not `Effect.timeout`: it races the call against a sleep in two forked fibers, ~40x the cost of a
 * plain wrapper on a fast call. Here a call that finishes in time costs a list insertion and removal;
 * the timer (a fiber sleeping on the limiter's `Clock`, so `TestClock` drives it) is started when a
 * lane gets its first call and stops when the lane is empty at its wake-up, so steady traffic starts
 * at most one timer per duration.
 *
 * How an overrunning call is stopped without a fiber of its own: the timer asks the caller's fiber,
 * through the fiber's own message queue (a "stateful" message, as `Fiber.status` uses), to add an
 * interruption by a FiberId unique to the call to its interrupted cause and to wake it if it is
 * suspended interruptibly. The fiber then unwinds the call as it unwinds any interruption (finalizers,
 * async cancelers, e.g. the HTTP request's AbortSignal), up to the guard's handler, which runs
 * uninterruptibly, removes that one interruption from the fiber's interrupted cause, and turns it into
 * the typed timeout error. Interruptions by anyone else stay and propagate. Unlike
 * `Fiber.unsafeInterruptAsFork`, this does not signal the caller's other child fibers (which have
 * nothing to do with the call).
 *
 * That needs four members of Effect 3's `FiberRuntime` that its public `RuntimeFiber` type does not
 * show (`tell`, `addInterruptedCause`, `_asyncInterruptor`, and the `currentInterruptedCause` FiberRef,
 * found under its global key). {@link inFiberSupported} checks they are there; where they are not,
 * callers fall back to `Effect.timeoutFail` (a fork per call, the same semantics).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as HashSet from "effect/HashSet"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"

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

/** One call under a deadline. */
export class Deadline {
  prev: Deadline | null = null
  next: Deadline | null = null
  /** Still in its lane (neither finished nor expired). */
  linked = false
  /** The call has finished: the timer must not touch it anymore. */
  done = false
  /** Set once the caller's fiber has recorded the interruption; its id is then in the fiber's cause. */
  interruptor: FiberId.FiberId | undefined = undefined

  constructor(
    readonly at: number,
    readonly lane: Lane,
    /** What expiry does: interrupt the call in place, or hand the caller a result (detached calls). */
    readonly expire: (deadline: Deadline) => void,
    /** What `expire` acts on (the caller's fiber for {@link interruptInPlace}). */
    readonly target: unknown
  ) {}
}

/** Calls sharing one duration, in deadline order, with the timer that expires them. */
class Lane {
  private head: Deadline | null = null
  private tail: Deadline | null = null
  private timer: Fiber.RuntimeFiber<void> | undefined = undefined

  constructor(
    readonly millis: number,
    private readonly clock: Clock.Clock,
    private readonly runtime: Runtime.Runtime<never>
  ) {}

  get isEmpty(): boolean {
    return this.head === null
  }

  add(deadline: Deadline): void {
    deadline.linked = true
    deadline.prev = this.tail
    if (this.tail === null) this.head = deadline
    else this.tail.next = deadline
    this.tail = deadline
    if (this.timer === undefined) {
      this.timer = Runtime.runFork(this.runtime)(this.sleepUntil(deadline.at))
    }
  }

  remove(deadline: Deadline): void {
    if (!deadline.linked) return
    deadline.linked = false
    if (deadline.prev === null) this.head = deadline.next
    else deadline.prev.next = deadline.next
    if (deadline.next === null) this.tail = deadline.prev
    else deadline.next.prev = deadline.prev
    deadline.prev = deadline.next = null
  }

  private sleepUntil(at: number): Effect.Effect<void> {
    const wait = at - this.clock.unsafeCurrentTimeMillis()
    return wait > 0 ? Effect.flatMap(this.clock.sleep(Duration.millis(wait)), () => this.tick) : this.tick
  }

  /** Expires what is due, then sleeps until the next deadline, or stops if there is none. */
  private readonly tick: Effect.Effect<void> = Effect.suspend(() => {
    const now = this.clock.unsafeCurrentTimeMillis()
    while (this.head !== null && this.head.at <= now) {
      const due = this.head
      this.remove(due)
      due.expire(due)
    }
    if (this.head === null) {
      this.timer = undefined
      return Effect.void
    }
    return this.sleepUntil(this.head.at)
  })

  /** Stops the timer (scope closed); calls still in the lane are no longer bounded. */
  stop(): Effect.Effect<void> {
    const timer = this.timer
    this.timer = undefined
    this.head = this.tail = null
    return timer === undefined ? Effect.void : Effect.asVoid(timer.interruptAsFork(FiberId.none))
  }
}

/**
 * The deadlines of one guard: a lane per duration in use (one, unless reconfigured), each with its
 * own timer, all stopped when the guard's scope closes.
 */
export class Deadlines {
  private lane: Lane | undefined
  private readonly draining = new Set<Lane>()
  private closed = false

  private constructor(private readonly clock: Clock.Clock, private readonly runtime: Runtime.Runtime<never>) {}

  /** Deadlines driven by the current `Clock`, stopped when the current `Scope` closes. */
  static readonly make: Effect.Effect<Deadlines, never, Scope.Scope> = Effect.gen(function*() {
    const deadlines = new Deadlines(yield* Effect.clock, yield* Effect.runtime<never>())
    yield* Effect.addFinalizer(() => deadlines.close())
    return deadlines
  })

  /** Whether new deadlines can still be timed (false once the scope has closed). */
  get open(): boolean {
    return !this.closed
  }

  /**
   * Starts timing a call that started at `now` (the `Clock`'s millis): `expire` runs (once, on the
   * timer's fiber) if the call is still running at the deadline.
   */
  start(now: number, millis: number, expire: (deadline: Deadline) => void, target?: unknown): Deadline {
    let lane = this.lane
    if (lane === undefined || lane.millis !== millis) {
      if (lane !== undefined && !lane.isEmpty) this.draining.add(lane)
      lane = this.lane = new Lane(millis, this.clock, this.runtime)
    }
    const deadline = new Deadline(now + millis, lane, expire, target)
    lane.add(deadline)
    return deadline
  }

  /** The call has finished (in time or not). */
  finish(deadline: Deadline): void {
    deadline.done = true
    if (!deadline.linked) return
    const lane = deadline.lane
    lane.remove(deadline)
    if (lane !== this.lane && lane.isEmpty) this.draining.delete(lane)
  }

  private close(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.closed = true
      const lanes = [...this.draining, ...(this.lane === undefined ? [] : [this.lane])]
      this.draining.clear()
      this.lane = undefined
      return Effect.forEach(lanes, (lane) => lane.stop(), { discard: true })
    })
  }
}

// ---- interrupting a call in its caller's fiber ---------------------------------------------------

/**
 * The expiry of a call running in `fiber`: records an interruption by an id of the call's own, then
 * wakes the fiber if it waits interruptibly. Runs on the caller's fiber, through its message queue.
 * A fiber found running (it had just been resumed) is asked again on the next scheduler turn, by then
 * it is suspended, or the call has finished.
 */
export const interruptInPlace = (deadline: Deadline): void => {
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
  deadline: Deadline
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
