/**
 * The bulkhead's vocabulary: its options, changes, metrics, refusal, events and service interface.
 * Below the bulkhead itself (`bulkheadImpl.ts`); the public `Bulkhead` module re-exports it.
 *
 * @internal
 */
import type { DurationInput } from "#port"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"

/**
 * The bulkhead's options, with Resilience4j's names and defaults. Durations accept any
 * `Duration.DurationInput` (`"500 millis"`, `Duration.seconds(1)`, or millis).
 *
 * @example
 * ```ts
 * import type { Bulkhead } from "breakwater"
 *
 * const options: Bulkhead.Options = { name: "db", maxConcurrentCalls: 10, maxWaitDuration: "250 millis" }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  readonly name: string
  /** Calls allowed to run at once, a whole number >= 0. Default 25. */
  readonly maxConcurrentCalls?: number
  /** How long a call may wait for a slot; 0 (default) refuses at once, `Duration.infinity` never does. */
  readonly maxWaitDuration?: DurationInput
}

/**
 * New settings for a running bulkhead (see `reconfigure`); absent fields stay as they are.
 *
 * @example
 * ```ts
 * import type { Bulkhead } from "breakwater"
 *
 * const wider: Bulkhead.Changes = { maxConcurrentCalls: 50 }
 * ```
 *
 * @since 0.1.0
 */
export type Changes = Omit<Options, "name">

/**
 * The bulkhead's gauges, with Resilience4j's names.
 *
 * @example
 * ```ts
 * import type { Bulkhead } from "breakwater"
 *
 * const inUse = (m: Bulkhead.Metrics) => m.maxAllowedConcurrentCalls - m.availableConcurrentCalls
 * ```
 *
 * @since 0.1.0
 */
export interface Metrics {
  /** Free slots; never negative (0 while a lowered limit is still exceeded by running calls). */
  readonly availableConcurrentCalls: number
  readonly maxAllowedConcurrentCalls: number
}

/**
 * A call was refused without being run: every slot was taken and it could not wait (or waited
 * `maxWaitDuration` in vain). `retryAfter` is always `Option.none()` (a bulkhead cannot know when a
 * slot will free); it is there because every refusal carries one.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * const shed = (self: Effect.Effect<string, Bulkhead.BulkheadFullError>) =>
 *   self.pipe(Effect.catchTag("BulkheadFullError", (e) => Effect.succeed(`busy: ${e.bulkheadName}`)))
 * ```
 *
 * @since 0.1.0
 */
export class BulkheadFullError extends Data.TaggedError("BulkheadFullError")<{
  readonly bulkheadName: string
  readonly maxConcurrentCalls: number
  readonly retryAfter: Option.Option<Duration.Duration>
}> {
  override get message(): string {
    return `Bulkhead '${this.bulkheadName}' is full and does not permit further calls`
  }
}

/**
 * What a bulkhead reports; each event carries the bulkhead's name and the `Clock` time in epoch millis.
 * `CallFinished` follows every `CallPermitted`, whatever the call's exit.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * const logRejections = (bulkhead: Bulkhead.Bulkhead) =>
 *   bulkhead.events.pipe(
 *     Stream.filter(Bulkhead.Event.$is("CallRejected")),
 *     Stream.runForEach((e) => Effect.logWarning(`${e.bulkheadName} is full`))
 *   )
 * ```
 *
 * @since 0.1.0
 */
export type Event = Data.TaggedEnum<{
  CallPermitted: { readonly bulkheadName: string; readonly at: number }
  CallRejected: { readonly bulkheadName: string; readonly at: number }
  CallFinished: { readonly bulkheadName: string; readonly at: number }
}>

/**
 * Constructors and guards for {@link Event}.
 *
 * @example
 * ```ts
 * import { Bulkhead } from "breakwater"
 *
 * const isRejection = Bulkhead.Event.$is("CallRejected")
 * ```
 *
 * @since 0.1.0
 */
export const Event = Data.taggedEnum<Event>()

/**
 * A running bulkhead. Obtain one with `Bulkhead.make` or `Bulkhead.layer`; guard calls with
 * `Bulkhead.withBulkhead` or `Bulkhead.policy`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * const report = (bulkhead: Bulkhead.Bulkhead) =>
 *   Effect.flatMap(bulkhead.metrics, (m) =>
 *     Effect.log(`${bulkhead.name}: ${m.availableConcurrentCalls}/${m.maxAllowedConcurrentCalls} free`))
 * ```
 *
 * @since 0.1.0
 */
export interface Bulkhead {
  readonly kind: "Bulkhead"
  readonly name: string
  readonly metrics: Effect.Effect<Metrics>
  /** Events from the moment of subscription; a subscriber that falls far behind loses the oldest. */
  readonly events: Stream.Stream<Event>
  /**
   * Subscribes now, in the caller's `Scope`, and returns the events from that moment. Use it where
   * the first event matters: `events` subscribes only when the stream starts running, so a fiber
   * forked to read it may attach after the event (`Effect.yieldNow()` does not guarantee otherwise);
   * after `const events = yield* guard.subscribe`, nothing is missed.
   */
  readonly subscribe: Effect.Effect<Stream.Stream<Event>, never, Scope.Scope>
  /**
   * Changes the limits in place. A higher `maxConcurrentCalls` admits waiters at once; a lower one
   * interrupts nothing. A new `maxWaitDuration` applies to calls that start waiting afterwards.
   */
  readonly reconfigure: (changes: Changes) => Effect.Effect<void, InvalidConfigError>
}
