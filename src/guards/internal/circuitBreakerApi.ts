/**
 * The circuit breaker's vocabulary: its states, options, metrics, refusals, events and service
 * interface. Below the in-process breaker (`circuitBreakerImpl`), the shared one
 * (`distributedCircuitBreaker`) and the keyed one, which implement or use it; the public
 * `CircuitBreaker` module re-exports all of it.
 *
 * @internal
 */
import type { DurationInput, UserSchedule } from "#port"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { StateName } from "../../core/circuitMachine.js"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import type { OnStoreFailure, StoreError } from "../../store/Store.js"

/**
 * The six states of a Resilience4j circuit breaker.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "breakwater"
 *
 * const isRefusing = (state: CircuitBreaker.State) => state === "Open" || state === "ForcedOpen"
 * ```
 *
 * @since 0.1.0
 */
export type State = StateName

/**
 * The breaker's options. Names, defaults and validation follow Resilience4j's `CircuitBreakerConfig`;
 * durations accept any `DurationInput` (`"60 seconds"`, `Duration.seconds(60)`, or millis).
 *
 * `E` and `A` are the error and value types the predicates look at; the breaker then guards only
 * effects whose errors and values are of those types.
 *
 * @example
 * ```ts
 * import { Schedule } from "effect"
 * import type { CircuitBreaker } from "breakwater"
 *
 * const options: CircuitBreaker.Options<{ readonly status: number }> = {
 *   name: "inventory",
 *   failureRateThreshold: 25,
 *   slidingWindowType: "TIME_BASED",
 *   slidingWindowSize: 30,
 *   waitDurationInOpenState: Schedule.exponential("2 seconds"),
 *   ignoreError: (error) => error.status === 404
 * }
 * ```
 *
 * @since 0.1.0
 */
export interface Options<E = unknown, A = unknown> {
  readonly name: string
  /** Percent of failed calls at which the breaker opens, in (0, 100]. Default 50. */
  readonly failureRateThreshold?: number
  /** Percent of slow calls at which the breaker opens, in (0, 100]. Default 100. */
  readonly slowCallRateThreshold?: number
  /** A call is slow when it takes strictly longer than this. Default 60 seconds; at least 1 ns. */
  readonly slowCallDurationThreshold?: DurationInput
  /** Default `"COUNT_BASED"`. */
  readonly slidingWindowType?: "COUNT_BASED" | "TIME_BASED"
  /** Calls (count-based) or seconds (time-based) in the window. Default 100. */
  readonly slidingWindowSize?: number
  /** Calls needed before rates are computed (capped at the size of a count window). Default 100. */
  readonly minimumNumberOfCalls?: number
  /** Trial calls admitted in HalfOpen. Default 10. */
  readonly permittedNumberOfCallsInHalfOpenState?: number
  /** Longest stay in HalfOpen before `transitionToStateAfterWaitDuration`; 0 (default) = no limit. */
  readonly maxWaitDurationInHalfOpenState?: DurationInput
  /** Where a half-open breaker goes when its maximum wait expires. Default `"Open"`. */
  readonly transitionToStateAfterWaitDuration?: "Open" | "Closed"
  /**
   * How long to stay Open: a duration (default 60 seconds, at least 1 ms), or a `Schedule` stepped
   * once per consecutive opening (its input is the opening's number, 1 for the first), so the wait can
   * back off; it restarts when the breaker closes, is disabled or switched to MetricsOnly. An exhausted
   * schedule keeps its last delay.
   */
  readonly waitDurationInOpenState?: DurationInput | UserSchedule<number>
  /** Move Open → HalfOpen on a timer instead of on the first call after the wait. Default false. */
  readonly automaticTransitionFromOpenToHalfOpenEnabled?: boolean
  /**
   * When the count of consecutive openings (what a `Schedule` wait backs off on) goes back to 0:
   * `"on-close"` (default, Resilience4j) whenever the breaker closes; `"after-closed-as-long-as-open"`
   * (Effect 4's `effect/persistence` rule) only once it has stayed Closed as long as its last Open period
   * lasted (Retry-After hint included), so a dependency that flaps keeps backing off. Disabled,
   * MetricsOnly and `reset` always start again from 0. In-process breakers only (a shared `Store`
   * counts openings as Resilience4j does).
   */
  readonly backoffReset?: "on-close" | "after-closed-as-long-as-open"
  /**
   * A wait the failure asks for (e.g. an HTTP response's `Retry-After`): when the failure that opens
   * the breaker has one, the Open period lasts the longer of the configured wait and the hint, the hint
   * capped at `maxRetryAfter`; refusals report it in `CallNotPermittedError.retryAfter`. Called with
   * the typed error, or with the success value `recordResult` counted as a failure. In-process breakers
   * only (ignored with a shared `Store`).
   */
  readonly retryAfter?: (failure: E | A) => Option.Option<DurationInput>
  /** The longest `retryAfter` hint taken; never shortens the configured wait. Default 1 hour (Effect 4's). */
  readonly maxRetryAfter?: DurationInput
  /** Which typed errors count as failures (default: all); the others count as successes. */
  readonly recordError?: (error: E) => boolean
  /** Typed errors that count as neither (checked first); an ignored trial call frees its permit. */
  readonly ignoreError?: (error: E) => boolean
  /** Success values that count as failures, e.g. a 200 response with an unusable body. */
  readonly recordResult?: (value: A) => boolean
  /**
   * With a shared `Store` provided: what the breaker does while the store is unreachable (default: the
   * store's own default, `"local-fallback"` for `RedisStore`). `"fail-closed"` refuses with a
   * `CallNotPermittedError` carrying the `StoreError` as its `cause`. Ignored without a store.
   */
  readonly onStoreFailure?: OnStoreFailure
}

/**
 * A snapshot of the breaker's current window, with Resilience4j's names. Rates read -1 until the
 * minimum number of calls is buffered.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "breakwater"
 *
 * const describe = (m: CircuitBreaker.Metrics) => `${m.failureRate}% of ${m.numberOfBufferedCalls} calls failed`
 * ```
 *
 * @since 0.1.0
 */
export interface Metrics {
  readonly failureRate: number
  readonly slowCallRate: number
  readonly numberOfBufferedCalls: number
  readonly numberOfFailedCalls: number
  readonly numberOfSlowCalls: number
  readonly numberOfSlowFailedCalls: number
  readonly numberOfSlowSuccessfulCalls: number
  readonly numberOfSuccessfulCalls: number
  readonly numberOfNotPermittedCalls: number
  /**
   * In-process breakers: the openings counted toward the Open wait's backoff (1 on the first opening;
   * see `backoffReset` for when it goes back to 0).
   */
  readonly consecutiveOpenings?: number
  /** Breakers sharing a `Store` only: outages begun (times the store stopped answering). */
  readonly storeOutages?: number
  /**
   * Breakers sharing a `Store` only: calls decided without the store because it was unreachable
   * (in process under `local-fallback`, let through under `fail-open`, refused under `fail-closed`).
   */
  readonly storeUnavailableCalls?: number
  /** Breakers sharing a `Store` only: operations the store evaluated under another instance's settings. */
  readonly settingsMismatches?: number
  /** Breakers sharing a `Store` only: times stored state that does not parse was discarded (as lost). */
  readonly storeStatesDiscarded?: number
}

/**
 * A call was refused without being run. `retryAfter` says how long until a trial call may be admitted,
 * when that is known (an Open breaker with a finite wait).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * const cached = (self: Effect.Effect<string, CircuitBreaker.CallNotPermittedError>) =>
 *   self.pipe(Effect.catchTag("CallNotPermittedError", (e) => Effect.succeed(`cached (${e.state})`)))
 * ```
 *
 * @since 0.1.0
 */
export class CallNotPermittedError extends Data.TaggedError("CallNotPermittedError")<{
  readonly breakerName: string
  readonly state: State
  readonly retryAfter: Option.Option<Duration.Duration>
  /**
   * Set when a shared breaker refused because its store is unreachable and `onStoreFailure` is
   * `"fail-closed"`: the store's error, for whoever wants to see why.
   */
  readonly cause?: StoreError | undefined
}> {
  override get message(): string {
    if (this.cause !== undefined) {
      return `CircuitBreaker '${this.breakerName}' refused the call: ${this.cause.message}`
    }
    const wait = Option.match(this.retryAfter, {
      onNone: () => "",
      onSome: (d) => ` (a trial call may be admitted in ${Duration.format(d)})`
    })
    return `CircuitBreaker '${this.breakerName}' is ${this.state} and does not permit further calls${wait}`
  }
}

/**
 * A manual transition Resilience4j forbids: Closed → HalfOpen, MetricsOnly → Open or HalfOpen.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * const probe = (breaker: CircuitBreaker.CircuitBreaker) =>
 *   breaker.transitionToHalfOpen.pipe(Effect.catchTag("IllegalStateTransitionError", (e) => Effect.logWarning(e.message)))
 * ```
 *
 * @since 0.1.0
 */
export class IllegalStateTransitionError extends Data.TaggedError("IllegalStateTransitionError")<{
  readonly breakerName: string
  readonly from: State
  readonly to: State
}> {
  override get message(): string {
    return `CircuitBreaker '${this.breakerName}' cannot move from ${this.from} to ${this.to}`
  }
}

/**
 * What a breaker reports. Every event carries the breaker's name and the `Clock` time in epoch
 * millis. In Disabled and ForcedOpen only `StateTransition` and `Reset` are published.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * const logTransitions = (breaker: CircuitBreaker.CircuitBreaker) =>
 *   breaker.events.pipe(
 *     Stream.filter(CircuitBreaker.Event.$is("StateTransition")),
 *     Stream.runForEach((e) => Effect.log(`${e.breakerName}: ${e.from} -> ${e.to}`))
 *   )
 * ```
 *
 * @since 0.1.0
 */
export type Event = Data.TaggedEnum<{
  Success: { readonly breakerName: string; readonly at: number; readonly duration: Duration.Duration }
  Error: {
    readonly breakerName: string
    readonly at: number
    readonly duration: Duration.Duration
    /** The typed error, the defect, or the success value `recordResult` counted as a failure. */
    readonly error: unknown
    readonly kind: "Failure" | "Defect" | "Result"
  }
  IgnoredError: {
    readonly breakerName: string
    readonly at: number
    readonly duration: Duration.Duration
    readonly error: unknown
  }
  CallNotPermitted: { readonly breakerName: string; readonly at: number; readonly state: State }
  StateTransition: { readonly breakerName: string; readonly at: number; readonly from: State; readonly to: State }
  Reset: { readonly breakerName: string; readonly at: number }
  FailureRateExceeded: { readonly breakerName: string; readonly at: number; readonly failureRate: number }
  SlowCallRateExceeded: { readonly breakerName: string; readonly at: number; readonly slowCallRate: number }
  /** A shared breaker lost its store; it runs in `mode` until the store answers again. */
  StoreUnavailable: {
    readonly breakerName: string
    readonly at: number
    readonly mode: OnStoreFailure
    readonly error: StoreError
  }
  /** A shared breaker's store answers again: it follows the shared state from now on. */
  StoreRecovered: { readonly breakerName: string; readonly at: number }
  /**
   * Other instances share this breaker's name with different settings (e.g. during a rolling deploy):
   * the settings first stored stay in force until none of those instances has used the shared state
   * for 30 seconds (or one of them is reconfigured). Published once per conflict.
   */
  StoreSettingsConflict: { readonly breakerName: string; readonly at: number }
  /**
   * The store held state for this breaker that does not parse (written by something else than
   * breakwater: a wrong type, a field out of range): it was discarded and the circuit started afresh,
   * as if the state had been lost. `reason` names what did not parse.
   */
  StoreStateDiscarded: { readonly breakerName: string; readonly at: number; readonly reason: string }
}>

/**
 * Constructors and guards for {@link Event}.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "breakwater"
 *
 * const isOpening = (e: CircuitBreaker.Event) => CircuitBreaker.Event.$is("StateTransition")(e) && e.to === "Open"
 * ```
 *
 * @since 0.1.0
 */
export const Event = Data.taggedEnum<Event>()

/**
 * A running circuit breaker. Obtain one with `CircuitBreaker.make` or `CircuitBreaker.layer`; guard calls
 * with `CircuitBreaker.withCircuitBreaker` or `CircuitBreaker.policy`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * const report = (breaker: CircuitBreaker.CircuitBreaker) =>
 *   Effect.gen(function*() {
 *     const state = yield* breaker.state
 *     const metrics = yield* breaker.metrics
 *     yield* Effect.log(`${breaker.name} is ${state}, failure rate ${metrics.failureRate}`)
 *   })
 * ```
 *
 * @since 0.1.0
 */
export interface CircuitBreaker<in E = unknown, in A = unknown> {
  readonly kind: "CircuitBreaker"
  readonly name: string
  readonly state: Effect.Effect<State>
  /** The current state, then every state it moves to (subscribed when the stream starts running). */
  readonly stateChanges: Stream.Stream<State>
  /**
   * `stateChanges`, subscribed before it returns, in the caller's `Scope`: after
   * `const changes = yield* breaker.subscribeStateChanges`, no transition is missed, even when the
   * stream is then read in a forked fiber that has not started yet.
   */
  readonly subscribeStateChanges: Effect.Effect<Stream.Stream<State>, never, Scope.Scope>
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
  readonly transitionToOpen: Effect.Effect<void, IllegalStateTransitionError>
  /** Open for `duration` instead of the configured wait. */
  readonly transitionToOpenStateFor: (
    duration: DurationInput
  ) => Effect.Effect<void, IllegalStateTransitionError>
  /** Open until `epochMillis` (a `Clock` time) instead of for the configured wait. */
  readonly transitionToOpenStateUntil: (epochMillis: number) => Effect.Effect<void, IllegalStateTransitionError>
  readonly transitionToHalfOpen: Effect.Effect<void, IllegalStateTransitionError>
  readonly transitionToClosed: Effect.Effect<void>
  readonly transitionToDisabled: Effect.Effect<void>
  readonly transitionToForcedOpen: Effect.Effect<void>
  readonly transitionToMetricsOnly: Effect.Effect<void>
  /** A fresh Closed breaker (metrics and consecutive openings forgotten), then a `Reset` event. */
  readonly reset: Effect.Effect<void>
  /**
   * Changes options in place, keeping the state: thresholds apply from the next recorded call; a new
   * window type or size replaces a Closed (or MetricsOnly) window at once, forgetting its calls, and
   * otherwise applies from the next Closed period; open-wait and half-open settings apply from the next
   * transition. Invalid changes fail with `InvalidConfigError` and change nothing.
   */
  reconfigure(changes: Omit<Options<E, A>, "name">): Effect.Effect<void, InvalidConfigError>
}

/**
 * The options of a `CircuitBreaker.keyed` breaker: those of each key's breaker, plus the bounds on keys.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "breakwater"
 *
 * const perHost: CircuitBreaker.KeyedOptions = { name: "hosts", minimumNumberOfCalls: 20, maxKeys: 5_000 }
 * ```
 *
 * @since 0.2.0
 */
export interface KeyedOptions<E = unknown, A = unknown> extends Options<E, A> {
  /**
   * Most keys with a live breaker; default 10,000, at most 1,000,000. A new key beyond it evicts the
   * least recently used key that is neither refusing (Open before its wait ends, ForcedOpen) nor
   * running a call; when none of the 64 least recently used keys can go, the new key's call runs
   * unguarded (counted in `untrackedCalls`) rather than being refused for other keys' sake.
   */
  readonly maxKeys?: number
  /**
   * How long an unused key's breaker is kept (default 10 minutes, finite, at least 1 ms). Dropped keys
   * come back Closed with an empty window. Expiry is checked on use, oldest first: no timer per key.
   */
  readonly idleTimeToLive?: DurationInput
  /**
   * Called with each key's breaker in a scope that ends when the key is dropped, e.g.
   * `collector.track` so `Metrics` exports each live key (series removed on eviction, so at most
   * `maxKeys` of them).
   */
  readonly track?: (breaker: CircuitBreaker<E, A>) => Effect.Effect<void, never, Scope.Scope>
}
