/**
 * The time limiter's vocabulary: its options, timeout error, events and service interface. Below both
 * the limiter's implementation (`timeLimiterImpl.ts`) and the public `TimeLimiter` module, which
 * re-exports all of it.
 *
 * @internal
 */
import type { DurationInput } from "#port"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"

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
  readonly timeoutDuration?: DurationInput
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
