/**
 * The time limiter at work: each call raced against its deadline (interrupted in place, or left to
 * finish in the caller's `Scope` with `cancelRunningCall: false`), its counters and events, and
 * `reconfigure`.
 *
 * @internal
 */
import {
  callback,
  decodeOptions,
  defectOf,
  failureOf,
  interruptNow,
  isEmptyCause,
  isInterruptOnly,
  nowMillis,
  originalError,
  restoreDefaults,
  type RunningFiber,
  timeoutFail,
  toDuration,
  withCallerFiber
} from "#port"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import { withoutStackTrace } from "../../shared/internal/errors.js"
import type { EventHub } from "../../shared/internal/eventHub.js"
import { currentSpan, spanEvent } from "../../shared/internal/observe.js"
import { clearInterruption, type Deadline, Deadlines, inFiberSupported, interruptInPlace } from "./deadlines.js"
import { type Changes, Event, type TimeLimiter, TimeoutExceededError } from "./timeLimiterApi.js"
import { ChangesSchema, OptionsSchema } from "./timeLimiterConfig.js"

/** The defaults, for `reconfigure`'s "undefined means default". */
const defaults = Schema.decodeSync(OptionsSchema)({ name: "defaults" })

export class TimeLimiterImpl implements TimeLimiter {
  readonly kind = "TimeLimiter" as const
  private timeout: Duration.Duration
  private cancelRunningCall: boolean
  private timeoutError: TimeoutExceededError
  private timeoutMillis: number
  /** Cumulative counters for metrics, read on collection (never reset). */
  successfulCalls = 0
  failedCalls = 0
  timeouts = 0

  constructor(
    readonly name: string,
    config: typeof OptionsSchema.Type,
    private readonly clock: Clock.Clock,
    private readonly scope: Scope.Scope,
    private readonly hub: EventHub<Event>,
    private readonly deadlines: Deadlines
  ) {
    this.timeout = toDuration(config.timeoutDuration)
    this.cancelRunningCall = config.cancelRunningCall
    this.timeoutError = this.makeTimeoutError()
    this.timeoutMillis = Duration.toMillis(this.timeout)
  }

  private makeTimeoutError(): TimeoutExceededError {
    return withoutStackTrace(() =>
      new TimeoutExceededError({ timeLimiterName: this.name, timeout: this.timeout, retryAfter: Option.none() })
    )
  }

  // ---- guarding calls ----------------------------------------------------------------------------

  guard<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | TimeoutExceededError, R> {
    return withCallerFiber((fiber, callerInterruptible) => {
      const error = this.timeoutError
      const span = currentSpan()
      if (span !== undefined) {
        span.attribute("breakwater.timelimiter.name", this.name)
        span.attribute("breakwater.timelimiter.timeout_ms", Duration.toMillis(error.timeout))
      }
      if (!this.deadlines.open || !inFiberSupported(fiber)) return this.observed(this.forked(self, error), error)
      return this.cancelRunningCall
        ? this.inPlace(self, fiber, error, callerInterruptible)
        : this.observed(this.detached(self, error), error)
    })
  }

  /**
   * The call runs in the caller's fiber, interruptibly (a time limiter exists to cut it short, even
   * where the caller is uninterruptible, as in a platform server handler); the limiter's timer
   * interrupts it only if it overruns (see internal/deadlines.ts). The handler runs uninterruptibly so
   * that it sees the deadline's interruption and can turn it into the timeout error.
   */
  private inPlace<A, E, R>(
    self: Effect.Effect<A, E, R>,
    fiber: RunningFiber<unknown, unknown>,
    error: TimeoutExceededError,
    callerInterruptible: boolean
  ): Effect.Effect<A, E | TimeoutExceededError, R> {
    const start = nowMillis(this.clock)
    const deadline = this.deadlines.start(start, this.timeoutMillis, interruptInPlace, fiber)
    const handled = Effect.matchCauseEffect(Effect.interruptible(self), {
      onSuccess: (value): Effect.Effect<A, TimeoutExceededError> => {
        this.deadlines.finish(deadline)
        if (deadline.interruptor !== undefined) return this.expired(fiber, deadline, start, error, Cause.empty)
        this.successfulCalls++
        if (this.hub.subscribers > 0) this.publish(start, Event.Success)
        return Effect.succeed(value)
      },
      onFailure: (cause): Effect.Effect<never, E | TimeoutExceededError> => {
        this.deadlines.finish(deadline)
        if (deadline.interruptor !== undefined) return this.expired(fiber, deadline, start, error, cause)
        this.failed(cause, start)
        return Effect.failCause(cause)
      }
    })
    // An uninterruptible caller (a platform handler) already gives the handler the region it needs.
    return callerInterruptible ? Effect.uninterruptible(handled) : handled
  }

  /**
   * After a call whose deadline interrupted it: the timeout error, unless someone else interrupts the
   * caller too (then the interruption goes on). An uninterruptible call that finished anyway after
   * its deadline also ends in the timeout error, as with a forked call.
   */
  private expired<E>(
    fiber: RunningFiber<unknown, unknown>,
    deadline: Deadline,
    start: number,
    error: TimeoutExceededError,
    cause: Cause.Cause<E>
  ): Effect.Effect<never, E | TimeoutExceededError> {
    return Effect.flatMap(
      clearInterruption(fiber, deadline),
      (alone): Effect.Effect<never, E | TimeoutExceededError> => {
        if (!alone) return Effect.failCause(isEmptyCause(cause) ? Cause.interrupt(deadline.interruptor!) : cause)
        this.timedOut(start, error)
        return Effect.fail(error)
      }
    )
  }

  private publish(
    start: number,
    make: (fields: { timeLimiterName: string; at: number; duration: Duration.Duration }) => Event
  ) {
    const at = nowMillis(this.clock)
    this.hub.unsafeOffer(make({ timeLimiterName: this.name, at, duration: Duration.millis(at - start) }))
  }

  private timedOut(start: number, timeout: TimeoutExceededError): void {
    this.timeouts++
    if (this.hub.listening) this.publish(start, Event.Timeout)
    this.traceTimeout(timeout)
  }

  private failed(cause: Cause.Cause<unknown>, start: number): void {
    if (isInterruptOnly(cause)) return
    this.failedCalls++
    if (this.hub.subscribers > 0) {
      const failure = failureOf(cause)
      const error = Option.isSome(failure) ? failure.value : Option.getOrUndefined(defectOf(cause))
      this.publish(start, (fields) => Event.Error({ ...fields, error }))
    }
  }

  /** Where in-fiber limits are unavailable (see internal/deadlines.ts): the call races a sleep. */
  private forked<A, E, R>(self: Effect.Effect<A, E, R>, error: TimeoutExceededError) {
    const options = { duration: error.timeout, onTimeout: () => error }
    return this.cancelRunningCall
      ? timeoutFail(Effect.interruptible(self), options)
      : this.detachOnTimeout(self, options)
  }

  /** The forked fallback of {@link detached}: the caller races the call's fiber against a sleep. */
  private detachOnTimeout<A, E, R>(
    self: Effect.Effect<A, E, R>,
    options: { readonly duration: Duration.Duration; readonly onTimeout: () => TimeoutExceededError }
  ): Effect.Effect<A, E | TimeoutExceededError, R> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        Effect.forkIn(Effect.interruptible(self), this.scope),
        (fiber) =>
          restore(timeoutFail(Fiber.join(fiber), options)).pipe(
            Effect.onInterrupt(() => Effect.sync(() => interruptNow(fiber)))
          )
      )
    )
  }

  /**
   * Runs `self` in a fiber of the limiter's scope; the caller waits for its result, or for the
   * deadline, whichever comes first, and then the fiber is left running. Interrupting the caller
   * before then interrupts it. The wait is a plain callback that the call's fiber or the limiter's
   * timer completes, so it needs no interruption (and works where the caller is uninterruptible).
   */
  private detached<A, E, R>(
    self: Effect.Effect<A, E, R>,
    error: TimeoutExceededError
  ): Effect.Effect<A, E | TimeoutExceededError, R> {
    return Effect.uninterruptibleMask((restore) => {
      let settle: ((exit: Effect.Effect<A, E | TimeoutExceededError>) => void) | undefined
      let settled: Effect.Effect<A, E | TimeoutExceededError> | undefined
      const complete = (exit: Effect.Effect<A, E | TimeoutExceededError>) => {
        if (settled !== undefined) return
        settled = exit
        settle?.(exit)
      }
      const deadline = this.deadlines.start(
        nowMillis(this.clock),
        this.timeoutMillis,
        () => complete(Effect.fail(error))
      )
      const call = Effect.onExit(Effect.interruptible(self), (exit) =>
        Effect.sync(() => {
          this.deadlines.finish(deadline)
          complete(exit)
        }))
      return Effect.flatMap(Effect.forkIn(call, this.scope), (fiber) =>
        restore(
          callback<A, E | TimeoutExceededError>((resume) => {
            if (settled !== undefined) return resume(settled)
            settle = resume
            return Effect.sync(() => interruptNow(fiber))
          })
        ))
    })
  }

  /**
   * Counts the caller's outcome and publishes it (per-call events only to full subscribers, timeouts
   * to anyone listening); `timeout` is this call's own error (a nested limiter's is an Error).
   */
  private observed<A, E, R>(limited: Effect.Effect<A, E | TimeoutExceededError, R>, timeout: TimeoutExceededError) {
    const start = nowMillis(this.clock)
    const timeLimiterName = this.name
    const publish = (event: (at: number, duration: Duration.Duration) => Event) => {
      const at = nowMillis(this.clock)
      this.hub.unsafeOffer(event(at, Duration.millis(at - start)))
    }
    return Effect.matchCauseEffect(limited, {
      onSuccess: (value) => {
        this.successfulCalls++
        if (this.hub.subscribers > 0) publish((at, duration) => Event.Success({ timeLimiterName, at, duration }))
        return Effect.succeed(value)
      },
      onFailure: (cause) => {
        if (!isInterruptOnly(cause)) {
          const failure = failureOf(cause)
          // Under a span, Effect hands back the error wrapped in a Proxy: compare the original.
          if (Option.isSome(failure) && originalError(failure.value) === timeout) {
            this.timeouts++
            if (this.hub.listening) publish((at, duration) => Event.Timeout({ timeLimiterName, at, duration }))
            this.traceTimeout(timeout)
          } else {
            this.failedCalls++
            const error = Option.isSome(failure) ? failure.value : Option.getOrUndefined(defectOf(cause))
            if (this.hub.subscribers > 0) {
              publish((at, duration) => Event.Error({ timeLimiterName, at, duration, error }))
            }
          }
        }
        return Effect.failCause(cause)
      }
    })
  }

  private traceTimeout(timeout: TimeoutExceededError): void {
    const span: Tracer.Span | undefined = currentSpan()
    if (span === undefined) return
    span.attribute("breakwater.timelimiter.decision", "timeout")
    spanEvent(span, nowMillis(this.clock), "breakwater.timelimiter.timeout", {
      "breakwater.timelimiter.name": this.name,
      "breakwater.timelimiter.timeout_ms": Duration.toMillis(timeout.timeout)
    })
  }

  // ---- reading and steering ----------------------------------------------------------------------

  readonly settings = Effect.sync(() => ({ timeoutDuration: this.timeout, cancelRunningCall: this.cancelRunningCall }))

  get events(): Stream.Stream<Event> {
    return this.hub.stream
  }

  get subscribe(): Effect.Effect<Stream.Stream<Event>, never, Scope.Scope> {
    return this.hub.subscribed
  }

  readonly reconfigure = (changes: Changes): Effect.Effect<void, InvalidConfigError> =>
    Effect.flatMap(
      decodeOptions(ChangesSchema, "TimeLimiter", { ...restoreDefaults(changes, defaults), name: this.name }),
      (decoded) =>
        Effect.sync(() => {
          if (decoded.cancelRunningCall !== undefined) this.cancelRunningCall = decoded.cancelRunningCall
          if (decoded.timeoutDuration !== undefined) {
            this.timeout = toDuration(decoded.timeoutDuration)
            this.timeoutError = this.makeTimeoutError()
            this.timeoutMillis = Duration.toMillis(this.timeout)
          }
        })
    )
}
