/**
 * The adaptive limiter's vocabulary: its options, changes, metrics, refusal, events and service
 * interface. Below the limiter itself (`adaptiveLimiterImpl.ts`); the public `AdaptiveLimiter` module
 * re-exports it.
 *
 * @internal
 */
import { type DurationInput } from "#port"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"

/**
 * The limiter's options. Durations accept any `Duration.DurationInput`.
 *
 * @example
 * ```ts
 * import type { AdaptiveLimiter } from "breakwater"
 *
 * const options: AdaptiveLimiter.Options = { name: "search", algorithm: "aimd", timeout: "300 millis" }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  readonly name: string
  /** `"gradient"` (default, latency-driven) or `"aimd"` (drop-driven). */
  readonly algorithm?: "gradient" | "aimd"
  /** The limit to start from, in [minLimit, maxLimit]. Default 20 (or the nearest bound). */
  readonly initialLimit?: number
  /** The limit never falls below this, a whole number >= 1. Default 1. */
  readonly minLimit?: number
  /** The limit never grows above this. Default 200. */
  readonly maxLimit?: number
  /** The factor a window with a drop multiplies the limit by, in [0.5, 0.99]. Default 0.9. */
  readonly backoffRatio?: number
  /** A call slower than this counts as a drop. Default 5 seconds. */
  readonly timeout?: DurationInput
  /** Gradient: how much of each new estimate is taken, in [0.01, 1]. Default 0.2. */
  readonly smoothing?: number
  /** Gradient: how much slower than the baseline still counts as unloaded, >= 1. Default 1. */
  readonly tolerance?: number
  /** Gradient: calls allowed to queue in the dependency, the upward probe per window. Default 4. */
  readonly queueSize?: number
  /** Gradient: windows the no-load baseline averages over. Default 600. */
  readonly baselineWindows?: number
  /** The shortest window between two limit updates. Default 1 second. */
  readonly windowDuration?: DurationInput
  /** The fewest calls a window needs before the limit is updated. Default 10. */
  readonly minWindowSamples?: number
  /** How long a call may wait for room under the limit; 0 (default) refuses at once. */
  readonly maxWaitDuration?: DurationInput
  /**
   * Which typed failures are drops (overload signals; only `"aimd"` reacts to them). Default: only
   * `TimeoutExceededError`. Defects and calls slower than `timeout` always are; breakwater's local
   * refusals never are.
   */
  readonly isDrop?: (error: unknown) => boolean
}

/**
 * New settings for a running limiter (see `reconfigure`); absent fields stay as they are.
 *
 * @example
 * ```ts
 * import type { AdaptiveLimiter } from "breakwater"
 *
 * const wider: AdaptiveLimiter.Changes = { maxLimit: 1000 }
 * ```
 *
 * @since 0.1.0
 */
export type Changes = Omit<Options, "name">

/**
 * The limiter's figures, read now.
 *
 * @example
 * ```ts
 * import type { AdaptiveLimiter } from "breakwater"
 *
 * const headroom = (m: AdaptiveLimiter.Metrics) => m.limit - m.inFlight
 * ```
 *
 * @since 0.1.0
 */
export interface Metrics {
  /** The current limit (whole calls). */
  readonly limit: number
  readonly inFlight: number
  /** Calls queued for room under the limit. */
  readonly waiting: number
  /** The estimated latency of the dependency at no load, in millis; -1 before the first window. */
  readonly noLoadLatencyMillis: number
  /** Calls refused since creation. */
  readonly rejectedCalls: number
}

/**
 * A call was refused: the limit was reached and it could not wait (or waited in vain).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * const shed = (self: Effect.Effect<string, AdaptiveLimiter.LimitExceededError>) =>
 *   self.pipe(Effect.catchTag("LimitExceededError", (e) => Effect.succeed(`busy (limit ${e.limit})`)))
 * ```
 *
 * @since 0.1.0
 */
export class LimitExceededError extends Data.TaggedError("LimitExceededError")<{
  readonly limiterName: string
  readonly limit: number
  readonly retryAfter: Option.Option<Duration.Duration>
}> {
  override get message(): string {
    return `AdaptiveLimiter '${this.limiterName}' is at its limit of ${this.limit} and does not permit further calls`
  }
}

/**
 * What a limiter reports: every change of the limit and every refusal (both rare events), each with
 * the limiter's name and the `Clock` time in epoch millis.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * const logLimit = (limiter: AdaptiveLimiter.AdaptiveLimiter) =>
 *   limiter.events.pipe(
 *     Stream.filter(AdaptiveLimiter.Event.$is("LimitChanged")),
 *     Stream.runForEach((e) => Effect.log(`${e.limiterName}: ${e.from} -> ${e.to}`))
 *   )
 * ```
 *
 * @since 0.1.0
 */
export type Event = Data.TaggedEnum<{
  LimitChanged: { readonly limiterName: string; readonly at: number; readonly from: number; readonly to: number }
  CallRejected: { readonly limiterName: string; readonly at: number; readonly limit: number }
}>

/**
 * Constructors and guards for {@link Event}.
 *
 * @example
 * ```ts
 * import { AdaptiveLimiter } from "breakwater"
 *
 * const isRejection = AdaptiveLimiter.Event.$is("CallRejected")
 * ```
 *
 * @since 0.1.0
 */
export const Event = Data.taggedEnum<Event>()

/**
 * A running adaptive limiter. Obtain one with `AdaptiveLimiter.make`; guard calls with
 * `AdaptiveLimiter.withAdaptiveLimiter` or `AdaptiveLimiter.policy`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * const report = (limiter: AdaptiveLimiter.AdaptiveLimiter) =>
 *   Effect.flatMap(limiter.metrics, (m) => Effect.log(`${limiter.name}: ${m.inFlight}/${m.limit}`))
 * ```
 *
 * @since 0.1.0
 */
export interface AdaptiveLimiter {
  readonly kind: "AdaptiveLimiter"
  readonly name: string
  readonly metrics: Effect.Effect<Metrics>
  /** Events from the moment of subscription. */
  readonly events: Stream.Stream<Event>
  /**
   * Subscribes now, in the caller's `Scope`, and returns the events from that moment. Use it where
   * the first event matters: `events` subscribes only when the stream starts running, so a fiber
   * forked to read it may attach after the event (`Effect.yieldNow()` does not guarantee otherwise);
   * after `const events = yield* guard.subscribe`, nothing is missed.
   */
  readonly subscribe: Effect.Effect<Stream.Stream<Event>, never, Scope.Scope>
  /** Changes the settings in place; the current limit is kept (within the new bounds). */
  readonly reconfigure: (changes: Changes) => Effect.Effect<void, InvalidConfigError>
}
