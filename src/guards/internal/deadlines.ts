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
 * How an overrunning call is stopped without a fiber of its own: the timer interrupts the caller's
 * fiber by an id unique to the call (Effect 3: through the fiber's own message queue, a "stateful"
 * message as `Fiber.status` uses, adding the interruption to its interrupted cause and waking it if it
 * is suspended interruptibly; Effect 4: `Fiber.interruptUnsafe`, which does both). The fiber then unwinds the call as it unwinds any interruption (finalizers,
 * async cancelers, e.g. the HTTP request's AbortSignal), up to the guard's handler, which runs
 * uninterruptibly, removes that one interruption from the fiber's interrupted cause, and turns it into
 * the typed timeout error. Interruptions by anyone else stay and propagate. Unlike
 * `Fiber.unsafeInterruptAsFork`, this does not signal the caller's other child fibers (which have
 * nothing to do with the call).
 *
 * That needs fiber members the public `Fiber` types do not show (Effect 3's `FiberRuntime` message
 * queue and interrupted cause; Effect 4's `FiberImpl` interrupted cause, to take one interruption back):
 * the in-fiber part lives in the ports (`src/port/effect{3,4}/inFiber.ts`). `inFiberSupported` checks
 * they are there; where they are not, callers fall back to a fork per call (the same semantics).
 *
 * @internal
 */
import {
  currentClock,
  currentRunner,
  type InFiberDeadline,
  interruptNow,
  type Interruptor,
  nowMillis,
  type Runner,
  type RunningFiber
} from "#port"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

export { clearInterruption, inFiberSupported, interruptInPlace, overrideInFiberSupport } from "#port"

/** One call under a deadline. */
export class Deadline implements InFiberDeadline {
  prev: Deadline | null = null
  next: Deadline | null = null
  /** Still in its lane (neither finished nor expired). */
  linked = false
  /** The call has finished: the timer must not touch it anymore. */
  done = false
  /** Set once the caller's fiber has recorded the interruption; its id is then in the fiber's cause. */
  interruptor: Interruptor | undefined = undefined

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
  private timer: RunningFiber<void> | undefined = undefined

  constructor(
    readonly millis: number,
    private readonly clock: Clock.Clock,
    private readonly run: Runner
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
      this.timer = this.run(this.sleepUntil(deadline.at))
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
    const wait = at - nowMillis(this.clock)
    return wait > 0 ? Effect.flatMap(this.clock.sleep(Duration.millis(wait)), () => this.tick) : this.tick
  }

  /** Expires what is due, then sleeps until the next deadline, or stops if there is none. */
  private readonly tick: Effect.Effect<void> = Effect.suspend(() => {
    const now = nowMillis(this.clock)
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
    return timer === undefined ? Effect.void : Effect.sync(() => interruptNow(timer))
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

  private constructor(private readonly clock: Clock.Clock, private readonly run: Runner) {}

  /** Deadlines driven by the current `Clock`, stopped when the current `Scope` closes. */
  static readonly make: Effect.Effect<Deadlines, never, Scope.Scope> = Effect.gen(function*() {
    const deadlines = new Deadlines(yield* currentClock, yield* currentRunner)
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
      lane = this.lane = new Lane(millis, this.clock, this.run)
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
