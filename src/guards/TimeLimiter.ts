/**
 * A time limiter with Resilience4j's semantics: a call that has not finished within `timeoutDuration`
 * fails with `TimeoutExceededError`, and is either interrupted (`cancelRunningCall: true`, the
 * default) or left to finish in the background.
 *
 * ## When to use
 * Around calls whose latency you cannot bound otherwise (a dependency without its own timeout, a
 * query that can hang): the caller gets an answer, a typed error, in bounded time.
 *
 * ## Gotchas
 * - With `cancelRunningCall: true` the error is returned once the call has been interrupted, so its
 *   finalizers have run; an uninterruptible call therefore delays the error until it ends.
 * - The call runs interruptibly even where the caller is uninterruptible (an @effect/platform server
 *   handler is): a time limiter exists to cut calls short, so only the call's own uninterruptible
 *   parts can delay it.
 * - With `cancelRunningCall: false` the call keeps running, disconnected from the caller, until it
 *   ends or the limiter's `Scope` closes; its result is dropped. Interrupting the caller before the
 *   timeout still interrupts the call.
 * - With `cancelRunningCall: true` the call runs in the caller's own fiber (no fork per call; one timer
 *   per limiter interrupts only the calls that overrun), so fibers the call forks belong to the caller,
 *   as with any other guard. `cancelRunningCall: false` forks each call, since it must be able to
 *   outlive the caller's wait.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * const fetchQuote = Effect.succeed(42).pipe(Effect.delay("200 millis"))
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const limiter = yield* TimeLimiter.make({ name: "quotes", timeoutDuration: "1 second" })
 *     return yield* fetchQuote.pipe(TimeLimiter.withTimeLimiter(limiter))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import { decodeOptions, readFields, restoreDefaults } from "../port/effect3/validation.js"
import { withoutStackTrace } from "../shared/internal/errors.js"
import { type EventHub, makeEventHub } from "../shared/internal/eventHub.js"
import { currentSpan, spanEvent } from "../shared/internal/observe.js"
import type { Policy } from "../shared/Policy.js"
import {
  clearInterruption,
  type Deadline,
  Deadlines,
  inFiberSupported,
  interruptInPlace
} from "./internal/deadlines.js"
import { ChangesSchema, configFields, OptionsSchema } from "./internal/timeLimiterConfig.js"

/** The defaults, for `reconfigure`'s "undefined means default". */
const defaults = Schema.decodeSync(OptionsSchema)({ name: "defaults" })
/**
 * The time limiter's options, with Resilience4j's names and defaults. Durations accept any
 * `Duration.DurationInput` (`"2 seconds"`, `Duration.millis(500)`, or millis).
 *
 * @example
 * ```ts
 * import type { TimeLimiter } from "breakwater"
 *
 * const options: TimeLimiter.Options = { name: "search", timeoutDuration: "750 millis", cancelRunningCall: false }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  readonly name: string
  /** How long a call may take, at least 1 ms. Default 1 second. */
  readonly timeoutDuration?: Duration.DurationInput
  /** Interrupt a call that timed out (default `true`), or let it finish in the background. */
  readonly cancelRunningCall?: boolean
}

/**
 * New settings for a running time limiter (see `reconfigure`); absent fields stay as they are.
 *
 * @example
 * ```ts
 * import type { TimeLimiter } from "breakwater"
 *
 * const patient: TimeLimiter.Changes = { timeoutDuration: "5 seconds" }
 * ```
 *
 * @since 0.1.0
 */
export type Changes = Omit<Options, "name">

/**
 * A call did not finish within the limit. `retryAfter` is always `Option.none()`; it is there because
 * every refusal carries one.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * const orDefault = <E, R>(self: Effect.Effect<number, E | TimeLimiter.TimeoutExceededError, R>) =>
 *   self.pipe(Effect.catchTag("TimeoutExceededError", () => Effect.succeed(0)))
 * ```
 *
 * @since 0.1.0
 */
export class TimeoutExceededError extends Data.TaggedError("TimeoutExceededError")<{
  readonly timeLimiterName: string
  readonly timeout: Duration.Duration
  readonly retryAfter: Option.Option<Duration.Duration>
}> {
  override get message(): string {
    return `TimeLimiter '${this.timeLimiterName}' recorded a timeout exception: the call did not finish within ${
      Duration.format(this.timeout)
    }`
  }
}

/**
 * What a time limiter reports about each call it guards; each event carries the limiter's name, the
 * `Clock` time in epoch millis and how long the caller waited. An interrupted caller reports nothing.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * const logTimeouts = (limiter: TimeLimiter.TimeLimiter) =>
 *   limiter.events.pipe(
 *     Stream.filter(TimeLimiter.Event.$is("Timeout")),
 *     Stream.runForEach((e) => Effect.logWarning(`${e.timeLimiterName} timed out`))
 *   )
 * ```
 *
 * @since 0.1.0
 */
export type Event = Data.TaggedEnum<{
  Success: { readonly timeLimiterName: string; readonly at: number; readonly duration: Duration.Duration }
  Error: {
    readonly timeLimiterName: string
    readonly at: number
    readonly duration: Duration.Duration
    /** The typed error or the defect. */
    readonly error: unknown
  }
  Timeout: { readonly timeLimiterName: string; readonly at: number; readonly duration: Duration.Duration }
}>

/**
 * Constructors and guards for {@link Event}.
 *
 * @example
 * ```ts
 * import { TimeLimiter } from "breakwater"
 *
 * const isTimeout = TimeLimiter.Event.$is("Timeout")
 * ```
 *
 * @since 0.1.0
 */
export const Event = Data.taggedEnum<Event>()

/**
 * A running time limiter. Obtain one with {@link make} or {@link layer}; guard calls with
 * {@link withTimeLimiter} or {@link policy}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * const tighten = (limiter: TimeLimiter.TimeLimiter) => limiter.reconfigure({ timeoutDuration: "200 millis" })
 * const show = (limiter: TimeLimiter.TimeLimiter) => Effect.log(limiter.name)
 * ```
 *
 * @since 0.1.0
 */
export interface TimeLimiter {
  readonly kind: "TimeLimiter"
  readonly name: string
  /** The settings in force. */
  readonly settings: Effect.Effect<{ readonly timeoutDuration: Duration.Duration; readonly cancelRunningCall: boolean }>
  /** Events from the moment of subscription; a subscriber that falls far behind loses the oldest. */
  readonly events: Stream.Stream<Event>
  /**
   * Subscribes now, in the caller's `Scope`, and returns the events from that moment. Use it where
   * the first event matters: `events` subscribes only when the stream starts running, so a fiber
   * forked to read it may attach after the event (`Effect.yieldNow()` does not guarantee otherwise);
   * after `const events = yield* guard.subscribe`, nothing is missed.
   */
  readonly subscribe: Effect.Effect<Stream.Stream<Event>, never, Scope.Scope>
  /** Changes the settings in place; they apply to calls started afterwards. */
  readonly reconfigure: (changes: Changes) => Effect.Effect<void, InvalidConfigError>
}

class TimeLimiterImpl implements TimeLimiter {
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
    this.timeout = Duration.decode(config.timeoutDuration)
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
    return Effect.withFiberRuntime((fiber, status) => {
      const error = this.timeoutError
      const current = fiber.currentSpan
      const span = current !== undefined && current._tag === "Span" ? current : undefined
      if (span !== undefined) {
        span.attribute("breakwater.timelimiter.name", this.name)
        span.attribute("breakwater.timelimiter.timeout_ms", Duration.toMillis(error.timeout))
      }
      if (!this.deadlines.open || !inFiberSupported(fiber)) return this.observed(this.forked(self, error), error)
      return this.cancelRunningCall
        ? this.inPlace(self, fiber, error, RuntimeFlags.interruption(status.runtimeFlags))
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
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    error: TimeoutExceededError,
    callerInterruptible: boolean
  ): Effect.Effect<A, E | TimeoutExceededError, R> {
    const start = this.clock.unsafeCurrentTimeMillis()
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
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    deadline: Deadline,
    start: number,
    error: TimeoutExceededError,
    cause: Cause.Cause<E>
  ): Effect.Effect<never, E | TimeoutExceededError> {
    return Effect.flatMap(
      clearInterruption(fiber, deadline),
      (alone): Effect.Effect<never, E | TimeoutExceededError> => {
        if (!alone) return Effect.failCause(Cause.isEmpty(cause) ? Cause.interrupt(deadline.interruptor!) : cause)
        this.timedOut(start, error)
        return Effect.fail(error)
      }
    )
  }

  private publish(
    start: number,
    make: (fields: { timeLimiterName: string; at: number; duration: Duration.Duration }) => Event
  ) {
    const at = this.clock.unsafeCurrentTimeMillis()
    this.hub.unsafeOffer(make({ timeLimiterName: this.name, at, duration: Duration.millis(at - start) }))
  }

  private timedOut(start: number, timeout: TimeoutExceededError): void {
    this.timeouts++
    if (this.hub.listening) this.publish(start, Event.Timeout)
    this.traceTimeout(timeout)
  }

  private failed(cause: Cause.Cause<unknown>, start: number): void {
    if (Cause.isInterruptedOnly(cause)) return
    this.failedCalls++
    if (this.hub.subscribers > 0) {
      const failure = Cause.failureOption(cause)
      const error = Option.isSome(failure) ? failure.value : Option.getOrUndefined(Cause.dieOption(cause))
      this.publish(start, (fields) => Event.Error({ ...fields, error }))
    }
  }

  /** Where in-fiber limits are unavailable (see internal/deadlines.ts): the call races a sleep. */
  private forked<A, E, R>(self: Effect.Effect<A, E, R>, error: TimeoutExceededError) {
    const options = { duration: error.timeout, onTimeout: () => error }
    return this.cancelRunningCall
      ? Effect.timeoutFail(Effect.interruptible(self), options)
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
          restore(Effect.timeoutFail(Fiber.join(fiber), options)).pipe(
            Effect.onInterrupt(() => Fiber.interruptFork(fiber))
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
        this.clock.unsafeCurrentTimeMillis(),
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
          Effect.async<A, E | TimeoutExceededError>((resume) => {
            if (settled !== undefined) return resume(settled)
            settle = resume
            return Fiber.interruptFork(fiber)
          })
        ))
    })
  }

  /**
   * Counts the caller's outcome and publishes it (per-call events only to full subscribers, timeouts
   * to anyone listening); `timeout` is this call's own error (a nested limiter's is an Error).
   */
  private observed<A, E, R>(limited: Effect.Effect<A, E | TimeoutExceededError, R>, timeout: TimeoutExceededError) {
    const start = this.clock.unsafeCurrentTimeMillis()
    const timeLimiterName = this.name
    const publish = (event: (at: number, duration: Duration.Duration) => Event) => {
      const at = this.clock.unsafeCurrentTimeMillis()
      this.hub.unsafeOffer(event(at, Duration.millis(at - start)))
    }
    return Effect.matchCauseEffect(limited, {
      onSuccess: (value) => {
        this.successfulCalls++
        if (this.hub.subscribers > 0) publish((at, duration) => Event.Success({ timeLimiterName, at, duration }))
        return Effect.succeed(value)
      },
      onFailure: (cause) => {
        if (!Cause.isInterruptedOnly(cause)) {
          const failure = Cause.failureOption(cause)
          // Under a span, Effect hands back the error wrapped in a Proxy: compare the original.
          if (Option.isSome(failure) && Cause.originalError(failure.value) === timeout) {
            this.timeouts++
            if (this.hub.listening) publish((at, duration) => Event.Timeout({ timeLimiterName, at, duration }))
            this.traceTimeout(timeout)
          } else {
            this.failedCalls++
            const error = Option.isSome(failure) ? failure.value : Option.getOrUndefined(Cause.dieOption(cause))
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
    spanEvent(span, this.clock.unsafeCurrentTimeMillis(), "breakwater.timelimiter.timeout", {
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
            this.timeout = Duration.decode(decoded.timeoutDuration)
            this.timeoutError = this.makeTimeoutError()
            this.timeoutMillis = Duration.toMillis(this.timeout)
          }
        })
    )
}

/**
 * Creates a time limiter. Fails with `InvalidConfigError`, listing every bad field, before anything
 * starts. Calls left running after a timeout (`cancelRunningCall: false`) live in the surrounding
 * `Scope` and are interrupted when it closes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const limiter = yield* TimeLimiter.make({ name: "search", timeoutDuration: "500 millis" })
 *     return yield* Effect.succeed("hit").pipe(TimeLimiter.withTimeLimiter(limiter))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<TimeLimiter, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* decodeOptions(OptionsSchema, "TimeLimiter", options)
    const clock = yield* Effect.clock
    const scope = yield* Effect.scope
    const hub = yield* makeEventHub<Event>()
    const deadlines = yield* Deadlines.make
    return new TimeLimiterImpl(config.name, config, clock, scope, hub, deadlines)
  })

/**
 * Runs `self` with a time limit: if it has not finished within `timeoutDuration` the caller gets
 * `TimeoutExceededError`, and the call is interrupted (or, with `cancelRunningCall: false`, left to
 * finish in the background). Dual: `withTimeLimiter(self, limiter)` or
 * `self.pipe(withTimeLimiter(limiter))`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * declare const limiter: TimeLimiter.TimeLimiter
 * const guarded = Effect.succeed("ok").pipe(TimeLimiter.withTimeLimiter(limiter))
 * const same = TimeLimiter.withTimeLimiter(Effect.succeed("ok"), limiter)
 * ```
 *
 * @since 0.1.0
 */
export const withTimeLimiter: {
  (limiter: TimeLimiter): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TimeoutExceededError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: TimeLimiter): Effect.Effect<A, E | TimeoutExceededError, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: TimeLimiter) => (limiter as TimeLimiterImpl).guard(self)
)

/**
 * The time limiter as a {@link Policy}, for `Policy.compose`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * declare const limiter: TimeLimiter.TimeLimiter
 * const guard = TimeLimiter.policy(limiter)
 * const guarded = guard(Effect.succeed(1))
 * ```
 *
 * @since 0.1.0
 */
export const policy = (limiter: TimeLimiter): Policy<TimeoutExceededError> => (self) => withTimeLimiter(self, limiter)

/**
 * A Layer that builds the time limiter for a service tag; it lives as long as the layer.
 *
 * @example
 * ```ts
 * import { Context, Effect } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * class SearchTimeout extends Context.Tag("SearchTimeout")<SearchTimeout, TimeLimiter.TimeLimiter>() {}
 *
 * const SearchTimeoutLive = TimeLimiter.layer(SearchTimeout, { name: "search", timeoutDuration: "2 seconds" })
 * const program = Effect.flatMap(SearchTimeout, (limiter) => limiter.settings).pipe(Effect.provide(SearchTimeoutLive))
 * ```
 *
 * @since 0.1.0
 */
export const layer = <I>(tag: Context.Tag<I, TimeLimiter>, options: Options): Layer.Layer<I, InvalidConfigError> =>
  Layer.scoped(tag, make(options))

/**
 * The options read through `effect/Config` under the namespace `name`, e.g. the keys
 * `search.timeoutDuration` from JSON, or `SEARCH_TIMEOUT_DURATION` from the environment with
 * `ConfigProvider.fromEnv().pipe(ConfigProvider.constantCase)`. Absent keys take the defaults; the
 * values are checked by the same Schema as {@link make}'s.
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({ search: { timeoutDuration: "2 seconds", cancelRunningCall: false } })
 * const options = Effect.withConfigProvider(TimeLimiter.config("search"), provider)
 * ```
 *
 * @since 0.1.0
 */
export const config = (name: string): Config.Config<Options> =>
  Config.nested(readFields(configFields), name).pipe(Config.map((values) => ({ ...values, name }) as Options))

/**
 * Like {@link layer}, with the options read from `effect/Config` (see {@link config}); `code`
 * overrides what was read. Bad values fail with `InvalidConfigError` naming the field; unreadable ones
 * with `ConfigError`.
 *
 * @example
 * ```ts
 * import { Context } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * class SearchTimeout extends Context.Tag("SearchTimeout")<SearchTimeout, TimeLimiter.TimeLimiter>() {}
 *
 * const SearchTimeoutLive = TimeLimiter.layerConfig(SearchTimeout, TimeLimiter.config("search"))
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = <I>(
  tag: Context.Tag<I, TimeLimiter>,
  options: Config.Config<Options>,
  code?: Changes
): Layer.Layer<I, InvalidConfigError | ConfigError.ConfigError> =>
  Layer.scoped(tag, Effect.flatMap(options, (read) => make({ ...read, ...code })))
