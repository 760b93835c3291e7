/**
 * A circuit breaker with Resilience4j's states, options, defaults and rules, as an Effect value.
 *
 * ## When to use
 * Around calls to a dependency that can fail or slow down for a while (another team's service, a
 * database): while it is sick the breaker fails calls fast with `CallNotPermittedError` instead of
 * adding load, then lets a few trial calls through to see whether it has recovered.
 *
 * ## Gotchas
 * - Interruption is not a failure: an interrupted call records nothing (and gives back a half-open
 *   permit).
 * - The breaker is created in a `Scope`: its timers (automatic Open → HalfOpen, the half-open maximum
 *   wait) end with it.
 * - Durations are measured with `Clock` in milliseconds.
 *
 * ## Shared across processes
 * Made where a `Store` is provided (e.g. `RedisStore.layer`), the breaker shares its circuit with every
 * breaker of the same `name` on that store — across instances, restarts and crash loops:
 * - Shared: the state, the open-until time (by the store's clock, e.g. Redis `TIME`), consecutive
 *   openings, the window's aggregates (a count window exactly; a time window in one-second buckets, as
 *   in process) and the half-open trial permits, which are leases of twice the
 *   `slowCallDurationThreshold` (clamped to 1 s – 10 min), renewed by their holder every half lease
 *   while its call runs: an instance that dies holding one cannot keep the circuit half-open, and a
 *   live trial keeps its permit however slow it is (its result counts in its half-open period).
 * - Settings travel with every operation: instances of one name should be configured alike. When they
 *   are not (a rolling deploy), the settings first stored stay in force for all until none of the
 *   instances using them has called for 30 seconds; the others log a warning once and publish a
 *   `StoreSettingsConflict` event. `reconfigure` is an explicit change for the fleet: the instance's
 *   next operation stores its new settings at once, and the others then follow them. A `Schedule` wait is sent as its first 16 delays (the last repeats).
 * - Lost shared state (keys expired after an hour unused, Redis restarted without persistence, a
 *   failover, FLUSHDB, or stored values that do not parse — then also reported by a
 *   `StoreStateDiscarded` event, a metric and a warning) starts a new incarnation: instances follow it from their next operation, and a
 *   call in flight then counts in the fresh state. A published message is only a hint to read the
 *   state (a forged one costs a read, nothing else). A missed pub/sub message cannot keep an instance in
 *   Open, ForcedOpen or Disabled: those states re-read the shared state every 5 seconds, and every
 *   breaker re-reads it when its subscription comes back.
 * - Consistency: instances admit from a locally cached copy of the shared state, refreshed by every
 *   reply and by the store's published changes. A call costs one round trip after it ran (its record)
 *   in Closed, none when refused in Open, one before it (the lease) in HalfOpen. After one instance
 *   trips the circuit, the others may admit calls until the change reaches them — one pub/sub delivery,
 *   or their own next record's reply. A breaker made while the shared circuit is open refuses at once.
 * - Local to each instance: events (every instance publishes every shared transition it learns of),
 *   the call counters of `Metrics`, and `numberOfNotPermittedCalls` (its own refusals plus the store's).
 * - When the store fails, `onStoreFailure` decides (see {@link Options}): `"local-fallback"` decides in
 *   process, starting from the last shared state (an open circuit stays open); `"fail-open"` lets every
 *   call through unrecorded; `"fail-closed"` refuses with a `CallNotPermittedError` whose `cause`
 *   holds the `StoreError` (so the error type of guarded effects does not change). Each outage is logged
 *   once, published as a `StoreUnavailable` event and counted; the store is probed again at most once a
 *   second, and when it answers the breaker follows the shared state again (`StoreRecovered`). Manual
 *   transitions during an outage apply to the local fallback only.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * const chargeCard = (amount: number) => Effect.succeed({ charged: amount })
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const breaker = yield* CircuitBreaker.make({ name: "payments", minimumNumberOfCalls: 20 })
 *     return yield* chargeCard(42).pipe(CircuitBreaker.withCircuitBreaker(breaker))
 *   })
 * )
 * ```
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 * import * as RedisStore from "breakwater/RedisStore"
 *
 * // Every instance of the service shares the "payments" circuit through Redis.
 * const shared = Effect.scoped(
 *   Effect.gen(function*() {
 *     const breaker = yield* CircuitBreaker.make({ name: "payments", onStoreFailure: "local-fallback" })
 *     return yield* Effect.succeed("charged").pipe(CircuitBreaker.withCircuitBreaker(breaker))
 *   })
 * ).pipe(Effect.provide(RedisStore.layer({ url: "redis://127.0.0.1:6379" })))
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
import * as Schedule from "effect/Schedule"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import { RefusalProbe } from "../core/breakerRefusal.js"
import {
  type Admission,
  CircuitMachine,
  Failure,
  Ignored,
  type MachineConfig,
  type MachineNotice,
  type Outcome,
  Refused,
  type StateName,
  Success
} from "../core/circuitMachine.js"
import { failureRate, slowCallRate } from "../core/slidingWindow.js"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import { decodeOptions, Name, readFields } from "../port/effect3/validation.js"
import { withoutStackTrace } from "../shared/internal/errors.js"
import { EventHub, makeEventHub } from "../shared/internal/eventHub.js"
import { type LazyScope, scopeOf } from "../shared/internal/lazyScope.js"
import { CallTimings, currentSpan, spanEvent } from "../shared/internal/observe.js"
import type { Policy } from "../shared/Policy.js"
import { type OnStoreFailure, Store, type StoreError } from "../store/Store.js"
import { configFields, OptionsSchema } from "./internal/circuitBreakerConfig.js"
import { makeDistributed, transitionTarget } from "./internal/distributedCircuitBreaker.js"
import { makeKeyedShell } from "./internal/keyedCircuitBreaker.js"
import { acquire as acquireManually } from "./internal/manualPermission.js"

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
 * durations accept any `Duration.DurationInput` (`"60 seconds"`, `Duration.seconds(60)`, or millis).
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
  readonly slowCallDurationThreshold?: Duration.DurationInput
  /** Default `"COUNT_BASED"`. */
  readonly slidingWindowType?: "COUNT_BASED" | "TIME_BASED"
  /** Calls (count-based) or seconds (time-based) in the window. Default 100. */
  readonly slidingWindowSize?: number
  /** Calls needed before rates are computed (capped at the size of a count window). Default 100. */
  readonly minimumNumberOfCalls?: number
  /** Trial calls admitted in HalfOpen. Default 10. */
  readonly permittedNumberOfCallsInHalfOpenState?: number
  /** Longest stay in HalfOpen before `transitionToStateAfterWaitDuration`; 0 (default) = no limit. */
  readonly maxWaitDurationInHalfOpenState?: Duration.DurationInput
  /** Where a half-open breaker goes when its maximum wait expires. Default `"Open"`. */
  readonly transitionToStateAfterWaitDuration?: "Open" | "Closed"
  /**
   * How long to stay Open: a duration (default 60 seconds, at least 1 ms), or a `Schedule` stepped
   * once per consecutive opening (its input is the opening's number, 1 for the first), so the wait can
   * back off; it restarts when the breaker closes, is disabled or switched to MetricsOnly. An exhausted
   * schedule keeps its last delay.
   */
  readonly waitDurationInOpenState?: Duration.DurationInput | Schedule.Schedule<unknown, number>
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
  readonly retryAfter?: (failure: E | A) => Option.Option<Duration.DurationInput>
  /** The longest `retryAfter` hint taken; never shortens the configured wait. Default 1 hour (Effect 4's). */
  readonly maxRetryAfter?: Duration.DurationInput
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
 * A running circuit breaker. Obtain one with {@link make} or {@link layer}; guard calls with
 * {@link withCircuitBreaker} or {@link policy}.
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
    duration: Duration.DurationInput
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

const nowMillis = (clock: Clock.Clock) => clock.unsafeCurrentTimeMillis()

type ResolvedOptions = typeof OptionsSchema.Type

/** The state machine's settings for `config` (one object, shareable by every breaker of that config). */
const machineConfigOf = (config: ResolvedOptions): MachineConfig => {
  const wait = config.waitDurationInOpenState
  const fixedWait = Schedule.isSchedule(wait) ? undefined : Duration.toMillis(wait as Duration.DurationInput)
  return {
    failureRateThreshold: config.failureRateThreshold,
    slowCallRateThreshold: config.slowCallRateThreshold,
    slowCallDurationThresholdMillis: Duration.toMillis(config.slowCallDurationThreshold),
    slidingWindowType: config.slidingWindowType,
    slidingWindowSize: config.slidingWindowSize,
    minimumNumberOfCalls: config.minimumNumberOfCalls,
    permittedNumberOfCallsInHalfOpenState: config.permittedNumberOfCallsInHalfOpenState,
    waitInOpenMillis: fixedWait,
    backoffReset: config.backoffReset,
    // Nothing in process reads the windows' summed durations (only a store reports them).
    keepDurations: false
  }
}

/**
 * What every breaker of one configuration shares, immutable: a keyed breaker's keys, and breakers made
 * with equal options (see {@link sharedSettings}), hold one of these instead of a copy each.
 */
interface Settings {
  readonly config: ResolvedOptions
  readonly machine: MachineConfig
  readonly recordError: ((error: unknown) => boolean) | undefined
  readonly ignoreError: ((error: unknown) => boolean) | undefined
  readonly recordResult: ((value: unknown) => boolean) | undefined
  readonly retryAfterOf: ((failure: unknown) => Option.Option<Duration.DurationInput>) | undefined
  readonly maxRetryAfterMillis: number
  readonly waitSchedule: Schedule.Schedule<unknown, number> | undefined
  /** The options these were decoded from, for {@link sharedSettings} to compare (name aside). */
  readonly source: object
}

const settingsOf = (config: ResolvedOptions, source: object): Settings => {
  const wait = config.waitDurationInOpenState
  return {
    config,
    machine: machineConfigOf(config),
    recordError: config.recordError as ((error: unknown) => boolean) | undefined,
    ignoreError: config.ignoreError as ((error: unknown) => boolean) | undefined,
    recordResult: config.recordResult as ((value: unknown) => boolean) | undefined,
    retryAfterOf: config.retryAfter as ((failure: unknown) => Option.Option<Duration.DurationInput>) | undefined,
    maxRetryAfterMillis: Duration.toMillis(config.maxRetryAfter),
    waitSchedule: Schedule.isSchedule(wait) ? (wait as Schedule.Schedule<unknown, number>) : undefined,
    source
  }
}

/** Whether `a` and `b` hold the same values under the same keys, `name` aside. */
const sameOptions = (a: object, b: object): boolean => {
  if (a === b) return true
  const ra = a as Record<string, unknown>
  const rb = b as Record<string, unknown>
  let keys = 0
  for (const key in ra) {
    if (key === "name") continue
    if (!Object.hasOwn(rb, key) || !Object.is(ra[key], rb[key])) return false
    keys++
  }
  for (const key in rb) if (key !== "name") keys--
  return keys === 0
}

/**
 * The settings last decoded for `make`, held weakly (they hold the caller's predicates and schedules):
 * breakers made in a row with equal options (per tenant, per host, from one options object) share
 * them, and the options are decoded once.
 */
let lastSettings: WeakRef<Settings> | undefined

const validName = Schema.is(Name)

/** Settings for `options`: the last ones when the options are equal (name aside), else decoded now. */
const sharedSettings = (options: Options<any, any>): Effect.Effect<Settings, InvalidConfigError> =>
  Effect.suspend(() => {
    const last = lastSettings?.deref()
    // The name is the one field not shared: it is still checked as the decoding would.
    if (last !== undefined && sameOptions(options, last.source) && validName(options.name)) return Effect.succeed(last)
    return Effect.map(decodeOptions(OptionsSchema, "CircuitBreaker", options), (config) => {
      const settings = settingsOf(config, options)
      lastSettings = new WeakRef(settings)
      return settings
    })
  })

/** The scheduling state of a breaker that has had a timer or a wait schedule (most never have). */
class Pacing {
  timer: Fiber.RuntimeFiber<void> | undefined = undefined
  timerToken = 0
  scheduleState: unknown = undefined
  scheduleSteps = 0
  lastScheduledWait = Duration.toMillis("60 seconds")
}

/** The refusal last built, reused within its millisecond (see `refusal`); kept only once refusing. */
class LastRefusal {
  constructor(
    readonly error: CallNotPermittedError,
    readonly effect: Effect.Effect<never, CallNotPermittedError>,
    readonly at: number,
    readonly openUntil: number
  ) {}
}

/**
 * An in-process breaker. Kept small (a keyed breaker may hold a million of these): what every breaker
 * of a configuration shares is one {@link Settings}; what only some need is made on first use (the
 * event hub, the call timings, the timers' and wait schedule's state, the last refusal).
 */
class CircuitBreakerImpl<E, A> implements CircuitBreaker<E, A> {
  get kind(): "CircuitBreaker" {
    return "CircuitBreaker"
  }
  private pacing: Pacing | undefined = undefined
  private eventHub: EventHub<Event> | undefined = undefined
  private timings: CallTimings | undefined = undefined
  private lastRefusal: LastRefusal | undefined = undefined
  readonly machine: CircuitMachine
  notPermittedCalls = 0

  constructor(
    readonly name: string,
    private shared: Settings,
    private readonly clock: Clock.Clock,
    /** Where timers and the event buffer live: the breaker's scope, or a keyed breaker key's lazy one. */
    private readonly scope: Scope.Scope | LazyScope
  ) {
    this.machine = new CircuitMachine(shared.machine)
    if (shared.waitSchedule !== undefined) this.restartSchedule()
  }

  /** The resolved options (shared with every breaker of the same settings: its `name` may be another's). */
  get config(): ResolvedOptions {
    return this.shared.config
  }

  /** Every guard keeps its event hub in `hub` (see `hubOf`); this one is made on first use. */
  get hub(): EventHub<Event> {
    return this.eventHub ?? (this.eventHub = new EventHub<Event>(this.scope))
  }

  /** Cumulative counters for metrics, read on collection (never reset); made on the first call. */
  get calls(): CallTimings {
    return this.timings ?? (this.timings = new CallTimings())
  }

  /** Anyone subscribed to every event (per-call ones included). */
  private get subscribed(): boolean {
    const hub = this.eventHub
    return hub !== undefined && hub.subscribers > 0
  }

  /** For `isRefusing` (breakerRefusal.ts): a method, so a breaker holds nothing for it. */
  [RefusalProbe](now: number): boolean {
    return this.refusesNow(now)
  }

  /** Open before its wait ends, or ForcedOpen: evicting this breaker would forget a cut-off dependency. */
  refusesNow(now: number): boolean {
    const machine = this.machine
    return machine.state === "ForcedOpen" || (machine.state === "Open" && machine.refuses(now))
  }

  reconfigure(changes: Omit<Options<E, A>, "name">): Effect.Effect<void, InvalidConfigError> {
    return Effect.suspend(() => {
      // The resolved options decode to themselves (the schema only checks and fills in defaults), so
      // they stand in for the options given: the breaker need not keep those.
      const options = { ...this.shared.config, ...changes, name: this.name }
      return Effect.map(decodeOptions(OptionsSchema, "CircuitBreaker", options), (config) => {
        const previous = this.shared
        const settings = settingsOf(config, options)
        this.shared = settings
        if (settings.waitSchedule !== previous.waitSchedule) this.restartSchedule()
        this.machine.reconfigure(settings.machine)
      })
    })
  }

  // ---- guarding calls ----------------------------------------------------------------------------

  guard<A2 extends A, E2 extends E, R>(
    self: Effect.Effect<A2, E2, R>
  ): Effect.Effect<A2, E2 | CallNotPermittedError, R> {
    return Effect.suspend((): Effect.Effect<A2, E2 | CallNotPermittedError, R> => {
      const machine = this.machine
      const state = machine.state
      const span = currentSpan()
      if (span !== undefined) this.annotate(span, state)
      if (state === "Closed" || state === "MetricsOnly") {
        return this.recorded(self, machine.generation, nowMillis(this.clock))
      }
      if (state === "Disabled") return self
      const now = nowMillis(this.clock)
      if (machine.refuses(now)) {
        machine.acquire(now) // counts the refusal
        return this.refuse(now, span)
      }
      return this.trial(self)
    })
  }

  /** Half-open (or about to be): the permit is taken and given back with interruption masked. */
  private trial<A2, E2, R>(self: Effect.Effect<A2, E2, R>): Effect.Effect<A2, E2 | CallNotPermittedError, R> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.suspend((): Effect.Effect<A2, E2 | CallNotPermittedError, R> => {
        const machine = this.machine
        const start = nowMillis(this.clock)
        const admission: Admission = machine.acquire(start)
        const notices = this.process(machine.drain())
        if (admission === Refused) return Effect.zipRight(notices, this.refuse(start, currentSpan()))
        return Effect.zipRight(notices, this.recorded(restore(self), machine.generation, start))
      })
    )
  }

  private recorded<A2, E2, R>(
    self: Effect.Effect<A2, E2, R>,
    generation: number,
    start: number
  ): Effect.Effect<A2, E2, R> {
    return Effect.matchCauseEffect(self, {
      onSuccess: (value) => {
        const end = nowMillis(this.clock)
        const settings = this.shared
        const rejected = settings.recordResult !== undefined && settings.recordResult(value)
        const outcome = rejected ? Failure : Success
        this.calls.record(outcome, end - start)
        this.machine.onResult(generation, end, end - start, outcome, rejected ? this.hintMillis(value) : 0)
        if (this.subscribed && this.publishesCallEvents()) {
          this.hub.unsafeOffer(
            rejected
              ? Event.Error({
                breakerName: this.name,
                at: end,
                duration: Duration.millis(end - start),
                error: value,
                kind: "Result"
              })
              : Event.Success({ breakerName: this.name, at: end, duration: Duration.millis(end - start) })
          )
        }
        const succeed = Effect.succeed(value)
        return this.machine.outbox.length === 0 ? succeed : Effect.zipRight(this.settleTransitions(), succeed)
      },
      onFailure: (cause) => {
        const end = nowMillis(this.clock)
        const outcome = this.classify(cause, end, end - start)
        this.calls.record(outcome, end - start)
        const hint = outcome === Failure && this.shared.retryAfterOf !== undefined
          ? Option.match(Cause.failureOption(cause), { onNone: () => 0, onSome: (error) => this.hintMillis(error) })
          : 0
        this.machine.onResult(generation, end, end - start, outcome, hint)
        const fail = Effect.failCause(cause)
        return this.machine.outbox.length === 0 ? fail : Effect.zipRight(this.settleTransitions(), fail)
      }
    })
  }

  /** The failure's Retry-After hint in milliseconds, capped at `maxRetryAfter`; 0 for none or a bad one. */
  private hintMillis(failure: unknown): number {
    const retryAfterOf = this.shared.retryAfterOf
    if (retryAfterOf === undefined) return 0
    const hint = retryAfterOf(failure)
    if (Option.isNone(hint)) return 0
    const millis = Duration.toMillis(Duration.decode(hint.value))
    // NaN or negative (a hostile or broken header) asks for nothing; Infinity is capped like any other.
    return millis > 0 ? Math.min(millis, this.shared.maxRetryAfterMillis) : 0
  }

  private classify(cause: Cause.Cause<unknown>, at: number, durationMillis: number): Outcome {
    if (Cause.isInterruptedOnly(cause)) return Ignored
    const failure = Cause.failureOption(cause)
    let outcome: Outcome = Failure
    let error: unknown
    if (Option.isSome(failure)) {
      error = failure.value
      const { ignoreError, recordError } = this.shared
      if (ignoreError !== undefined && ignoreError(error)) outcome = Ignored
      else if (recordError !== undefined && !recordError(error)) outcome = Success
    } else {
      error = Option.getOrUndefined(Cause.dieOption(cause))
    }
    if (this.subscribed && this.publishesCallEvents()) {
      const duration = Duration.millis(durationMillis)
      const breakerName = this.name
      this.hub.unsafeOffer(
        outcome === Ignored
          ? Event.IgnoredError({ breakerName, at, duration, error })
          : outcome === Success
          ? Event.Success({ breakerName, at, duration })
          : Event.Error({ breakerName, at, duration, error, kind: Option.isSome(failure) ? "Failure" : "Defect" })
      )
    }
    return outcome
  }

  private publishesCallEvents(): boolean {
    const state = this.machine.state
    return state !== "Disabled" && state !== "ForcedOpen"
  }

  /**
   * The refusal path of an Open breaker: no allocation in the common case (the failure is prebuilt
   * for the current millisecond, see {@link refusal}), so refusing costs less than passing a call.
   */
  private refuse(now: number, span: Tracer.Span | undefined): Effect.Effect<never, CallNotPermittedError> {
    const machine = this.machine
    const state = machine.state
    this.notPermittedCalls++
    if (this.eventHub?.listening === true && state !== "ForcedOpen") {
      this.hub.unsafeOffer(Event.CallNotPermitted({ breakerName: this.name, at: now, state }))
    }
    const failure = this.refusal(now, state, machine.openUntilMillis)
    if (span !== undefined) {
      const error = this.lastRefusal!.error
      span.attribute("breakwater.circuitbreaker.decision", "refused")
      spanEvent(span, now, "breakwater.circuitbreaker.call_not_permitted", {
        "breakwater.circuitbreaker.name": this.name,
        "breakwater.circuitbreaker.state": state,
        "breakwater.retry_after_ms": Option.getOrUndefined(Option.map(error.retryAfter, Duration.toMillis))
      })
    }
    return failure
  }

  /** What a trace shows of this breaker on a guarded call. */
  private annotate(span: Tracer.Span, state: State): void {
    span.attribute("breakwater.circuitbreaker.name", this.name)
    span.attribute("breakwater.circuitbreaker.state", state)
    span.attribute(
      "breakwater.circuitbreaker.decision",
      state === "HalfOpen" || state === "Open" ? "trial" : state === "ForcedOpen" ? "refused" : "permitted"
    )
  }

  /**
   * Building an Error costs more than the rest of a refusal, so refusals in the same millisecond, state
   * and Open period share one (immutable) error, and one prebuilt failure of it: `Effect.fail` would
   * look up the fiber's span for every refusal (`failCause` of a ready `Cause` does not).
   */
  private refusal(now: number, state: State, openUntil: number): Effect.Effect<never, CallNotPermittedError> {
    const last = this.lastRefusal
    if (last !== undefined && last.at === now && last.error.state === state && last.openUntil === openUntil) {
      return last.effect
    }
    const retryAfter = state === "Open" && Number.isFinite(openUntil)
      ? Option.some(Duration.millis(Math.max(0, openUntil - now)))
      : Option.none()
    const error = withoutStackTrace(() => new CallNotPermittedError({ breakerName: this.name, state, retryAfter }))
    const failure = Effect.failCause(Cause.fail(error))
    this.lastRefusal = new LastRefusal(error, failure, now, openUntil)
    return failure
  }

  // ---- reacting to transitions -------------------------------------------------------------------

  /**
   * Reacts to the transitions a call just caused. Uninterruptible: interrupting the caller here would
   * leave an Open state without its end or its timer.
   */
  private settleTransitions(): Effect.Effect<void> {
    return Effect.uninterruptible(this.process(this.machine.drain()))
  }

  /** Publishes the machine's notices in order and starts what the new state needs. */
  private process(notices: ReadonlyArray<MachineNotice>): Effect.Effect<void> {
    if (notices.length === 0) return Effect.void
    return Effect.forEach(notices, (notice) => this.react(notice), { discard: true })
  }

  private react(notice: MachineNotice): Effect.Effect<void> {
    const at = nowMillis(this.clock)
    const breakerName = this.name
    switch (notice._tag) {
      case "FailureRateExceeded":
        return this.publish(Event.FailureRateExceeded({ breakerName, at, failureRate: notice.rate }))
      case "SlowCallRateExceeded":
        return this.publish(Event.SlowCallRateExceeded({ breakerName, at, slowCallRate: notice.rate }))
      case "StateTransition":
        // A notice about a state that has already been left must not touch the current state's timers.
        if (notice.generation !== this.machine.generation) {
          return notice.internal
            ? Effect.void
            : this.publish(Event.StateTransition({ breakerName, at, from: notice.from, to: notice.to }))
        }
        return notice.internal ? this.enter(notice.to, notice.generation, at) : Effect.zipRight(
          this.publish(Event.StateTransition({ breakerName, at, from: notice.from, to: notice.to })),
          this.enter(notice.to, notice.generation, at)
        )
    }
  }

  private publish(event: Event): Effect.Effect<void> {
    // No hub yet means no subscriber ever: the event would reach nobody.
    const hub = this.eventHub
    return hub === undefined ? Effect.void : hub.publish(event)
  }

  private enter(state: State, generation: number, at: number): Effect.Effect<void> {
    const machine = this.machine
    switch (state) {
      case "Open":
        return Effect.flatMap(this.openUntil(generation, at), (until) => {
          machine.setOpenUntil(generation, until)
          return this.config.automaticTransitionFromOpenToHalfOpenEnabled && Number.isFinite(until)
            ? this.startTimer(generation, until, "HalfOpen")
            : this.stopTimer
        })
      case "HalfOpen": {
        const maxWait = Duration.toMillis(this.config.maxWaitDurationInHalfOpenState)
        return maxWait > 0 && Number.isFinite(maxWait)
          ? this.startTimer(generation, at + maxWait, this.config.transitionToStateAfterWaitDuration)
          : this.stopTimer
      }
      case "ForcedOpen":
        return this.stopTimer
      default:
        // Closed, Disabled, MetricsOnly: the count of consecutive openings is back to 0 (unless
        // `backoffReset` keeps it past a close), and so is the wait schedule.
        if (machine.attempts === 0) this.restartSchedule()
        return this.stopTimer
    }
  }

  /** When the Open period that began at `at` ends: fixed, explicit, or the wait schedule's next step. */
  private openUntil(generation: number, at: number): Effect.Effect<number> {
    const machine = this.machine
    if (this.shared.waitSchedule === undefined || machine.generation !== generation) {
      return Effect.succeed(machine.openUntilMillis)
    }
    // The wait is the schedule's `attempts`-th delay, as Resilience4j's interval function of attempts:
    // the schedule steps once per consecutive opening, even when a manual transition set its own wait.
    return Effect.map(
      this.stepScheduleTo(machine.attempts, at),
      () =>
        Number.isNaN(machine.openUntilMillis)
          ? at + Math.max(this.pacingState.lastScheduledWait, machine.openHintMillis)
          : machine.openUntilMillis
    )
  }

  /** The scheduling state, made when the breaker first needs it. */
  private get pacingState(): Pacing {
    return this.pacing ?? (this.pacing = new Pacing())
  }

  private stepScheduleTo(attempts: number, at: number): Effect.Effect<void> {
    const schedule = this.shared.waitSchedule
    const pacing = this.pacingState
    // The count went back to 0 since the schedule last stepped (`backoffReset`): replay from its start.
    if (pacing.scheduleSteps > attempts) this.restartSchedule()
    if (schedule === undefined || pacing.scheduleSteps >= attempts) return Effect.void
    return Effect.flatMap(
      schedule.step(at, pacing.scheduleSteps + 1, pacing.scheduleState),
      ([state, _out, decision]) => {
        pacing.scheduleState = state
        pacing.scheduleSteps++
        if (decision._tag === "Continue") {
          pacing.lastScheduledWait = Math.max(0, ScheduleIntervals.start(decision.intervals) - at)
        }
        return this.stepScheduleTo(attempts, at)
      }
    )
  }

  private restartSchedule(): void {
    const schedule = this.shared.waitSchedule
    // Nothing to restart for a breaker that never had a schedule.
    if (schedule === undefined && this.pacing === undefined) return
    const pacing = this.pacingState
    pacing.scheduleState = schedule?.initial
    pacing.scheduleSteps = 0
  }

  private startTimer(generation: number, atMillis: number, to: State): Effect.Effect<void> {
    return Effect.suspend(() => {
      const pacing = this.pacingState
      const token = ++pacing.timerToken
      const fire = Effect.suspend(() => {
        if (pacing.timerToken === token) pacing.timer = undefined
        const machine = this.machine
        if (machine.generation !== generation) return Effect.void
        machine.transitionTo(to, nowMillis(this.clock))
        return this.process(machine.drain())
      })
      const timer = this.clock.sleep(Duration.millis(Math.max(0, atMillis - nowMillis(this.clock)))).pipe(
        Effect.zipRight(Effect.uninterruptible(fire))
      )
      return Effect.zipRight(
        this.stopTimerKeepingToken(),
        // Transitions run uninterruptibly; the timer they start must stay interruptible.
        Effect.flatMap(
          scopeOf(this.scope),
          (scope) =>
            Effect.map(Effect.forkIn(Effect.interruptible(timer), scope), (fiber) => {
              if (pacing.timerToken === token) pacing.timer = fiber
            })
        )
      )
    })
  }

  private stopTimerKeepingToken(): Effect.Effect<void> {
    const pacing = this.pacing
    const timer = pacing?.timer
    if (timer === undefined) return Effect.void
    pacing!.timer = undefined
    return Effect.asVoid(Fiber.interruptFork(timer))
  }

  // The effects below are getters, not fields: an idle breaker (one of many thousands, keyed per
  // target) should not hold a dozen prebuilt effects.
  private get stopTimer(): Effect.Effect<void> {
    return Effect.suspend(() => {
      // A breaker that never started a timer has none to stop, nor a pending start to cancel.
      const pacing = this.pacing
      if (pacing === undefined) return Effect.void
      pacing.timerToken++
      return this.stopTimerKeepingToken()
    })
  }

  // ---- reading and steering ----------------------------------------------------------------------

  get state(): Effect.Effect<State> {
    return Effect.sync(() => this.machine.state)
  }

  get metrics(): Effect.Effect<Metrics> {
    return Effect.sync(() => {
      const machine = this.machine
      const window = machine.window
      window.roll(nowMillis(this.clock))
      return {
        failureRate: failureRate(window),
        slowCallRate: slowCallRate(window),
        numberOfBufferedCalls: window.calls,
        numberOfFailedCalls: window.failed,
        numberOfSlowCalls: window.slow,
        numberOfSlowFailedCalls: window.slowFailed,
        numberOfSlowSuccessfulCalls: window.slow - window.slowFailed,
        numberOfSuccessfulCalls: window.calls - window.failed,
        numberOfNotPermittedCalls: machine.numberOfNotPermittedCalls,
        consecutiveOpenings: machine.attempts
      }
    })
  }

  get events(): Stream.Stream<Event> {
    return this.hub.stream
  }

  get subscribe(): Effect.Effect<Stream.Stream<Event>, never, Scope.Scope> {
    return this.hub.subscribed
  }

  get stateChanges(): Stream.Stream<State> {
    return this.hub.changes(() => this.machine.state, transitionTarget)
  }

  get subscribeStateChanges(): Effect.Effect<Stream.Stream<State>, never, Scope.Scope> {
    return this.hub.subscribedChanges(() => this.machine.state, transitionTarget)
  }

  private transition(to: State, openUntilMillis?: number): Effect.Effect<void, IllegalStateTransitionError> {
    return Effect.uninterruptible(Effect.suspend(() => {
      const machine = this.machine
      const from = machine.state
      if (!machine.transitionTo(to, nowMillis(this.clock), openUntilMillis)) {
        return Effect.fail(new IllegalStateTransitionError({ breakerName: this.name, from, to }))
      }
      return this.process(machine.drain())
    }))
  }

  get transitionToOpen() {
    return this.transition("Open")
  }
  // Getters returning functions (not function fields): callable detached like fields, held by none.
  get transitionToOpenStateFor() {
    return (duration: Duration.DurationInput) =>
      Effect.suspend(() => this.transition("Open", nowMillis(this.clock) + Duration.toMillis(duration)))
  }
  get transitionToOpenStateUntil() {
    return (epochMillis: number) => this.transition("Open", epochMillis)
  }
  get transitionToHalfOpen() {
    return this.transition("HalfOpen")
  }
  get transitionToClosed() {
    return this.transition("Closed") as Effect.Effect<void>
  }
  get transitionToDisabled() {
    return this.transition("Disabled") as Effect.Effect<void>
  }
  get transitionToForcedOpen() {
    return this.transition("ForcedOpen") as Effect.Effect<void>
  }
  get transitionToMetricsOnly() {
    return this.transition("MetricsOnly") as Effect.Effect<void>
  }

  get reset(): Effect.Effect<void> {
    return Effect.uninterruptible(Effect.suspend(() => {
      const machine = this.machine
      const at = nowMillis(this.clock)
      machine.reset(at)
      this.restartSchedule()
      return Effect.zipRight(this.process(machine.drain()), this.publish(Event.Reset({ breakerName: this.name, at })))
    }))
  }
}

/**
 * Creates a circuit breaker in Closed state. Fails with `InvalidConfigError`, listing every bad field,
 * before anything starts. The breaker's timers live in the surrounding `Scope`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const breaker = yield* CircuitBreaker.make({
 *       name: "payments",
 *       failureRateThreshold: 50,
 *       slidingWindowSize: 20,
 *       minimumNumberOfCalls: 10,
 *       waitDurationInOpenState: "30 seconds"
 *     })
 *     return yield* breaker.state // "Closed"
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = <E = unknown, A = unknown>(
  options: Options<E, A>
): Effect.Effect<CircuitBreaker<E, A>, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* Effect.serviceOption(Store)
    const clock = yield* Effect.clock
    const scope = yield* Effect.scope
    if (Option.isNone(store)) {
      const settings = yield* sharedSettings(options)
      return new CircuitBreakerImpl<E, A>(options.name, settings, clock, scope)
    }
    const config = yield* decodeOptions(OptionsSchema, "CircuitBreaker", options)
    const hub = yield* makeEventHub<Event>()
    return yield* makeDistributed<E, A>({
      options,
      config,
      clock,
      scope,
      hub,
      store: store.value.circuitBreaker,
      storeName: store.value.name,
      onStoreFailure: config.onStoreFailure ?? store.value.onStoreFailure
    })
  })

/**
 * Runs `self` through the breaker: refused at once with `CallNotPermittedError` (without running)
 * when the breaker does not permit calls; otherwise run, timed, and recorded as success, failure or
 * ignored. Dual: `withCircuitBreaker(self, breaker)` or `self.pipe(withCircuitBreaker(breaker))`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker
 * const guarded = Effect.succeed("ok").pipe(CircuitBreaker.withCircuitBreaker(breaker))
 * const same = CircuitBreaker.withCircuitBreaker(Effect.succeed("ok"), breaker)
 * ```
 *
 * @since 0.1.0
 */
export const withCircuitBreaker: {
  <EB, AB>(
    breaker: CircuitBreaker<EB, AB>
  ): <A extends AB, E extends EB, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CallNotPermittedError, R>
  <A extends AB, E extends EB, R, EB, AB>(
    self: Effect.Effect<A, E, R>,
    breaker: CircuitBreaker<EB, AB>
  ): Effect.Effect<A, E | CallNotPermittedError, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, breaker: CircuitBreaker<E, A>) =>
    (breaker as CircuitBreakerImpl<E, A>).guard(self)
)

/**
 * The breaker as a {@link Policy}, for `Policy.compose`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker
 * const guard = CircuitBreaker.policy(breaker)
 * const guarded = guard(Effect.succeed(1))
 * ```
 *
 * @since 0.1.0
 */
export const policy =
  <EB, AB>(breaker: CircuitBreaker<EB, AB>): Policy<CallNotPermittedError, never, EB, AB> => (self) =>
    withCircuitBreaker(self, breaker)

/**
 * A permission to make one call outside an effect (a callback, a stream element), from
 * {@link acquirePermission} or {@link tryAcquirePermission}: settle it once with `onSuccess`,
 * `onError` or `release`, as Resilience4j's `onResult` / `onSuccess`, `onError` and
 * `releasePermission`. The call's duration is measured with the breaker's `Clock` from acquisition to
 * settlement (Resilience4j takes a duration measured by the caller). Everything else is a guarded
 * effect's: predicates, events, metrics, a result arriving after its state ended is dropped, a
 * released (or ignored) half-open trial gives its permit back. Each method returns `true` when it
 * settled the permission and `false` when it had already been settled (and then does nothing), so a
 * half-open permit can be given back only once. A permission never settled holds its permit (in
 * HalfOpen, until `maxWaitDurationInHalfOpenState` ends the state, as in Resilience4j).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker<Error, string>
 * declare const fetchWithCallback: (done: (error: Error | null, body: string) => void) => void
 *
 * const viaCallback = Effect.gen(function*() {
 *   const permission = yield* CircuitBreaker.acquirePermission(breaker)
 *   yield* Effect.async<void>((resume) =>
 *     fetchWithCallback((error, body) =>
 *       resume(Effect.asVoid(error === null ? permission.onSuccess(body) : permission.onError(error)))
 *     )
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 */
export interface Permission<in E = unknown, in A = unknown> {
  readonly breakerName: string
  /** The call returned `value`: a success, or a failure when `recordResult` says so. */
  readonly onSuccess: (value: A) => Effect.Effect<boolean>
  /** The call failed with `error`: a failure, a success or ignored, as `recordError`/`ignoreError` say. */
  readonly onError: (error: E) => Effect.Effect<boolean>
  /** The call was abandoned or its outcome does not count: ignored; a half-open permit is given back. */
  readonly release: Effect.Effect<boolean>
  /** Whether the permission has been settled. */
  readonly settled: Effect.Effect<boolean>
}

/**
 * Asks the breaker for a permission to make one call outside an effect (see {@link Permission});
 * refused with `CallNotPermittedError` (counted and published like a refused effect) when the breaker
 * does not permit calls. Resilience4j's `acquirePermission`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker<Error, number>
 * const recordOne = Effect.flatMap(CircuitBreaker.acquirePermission(breaker), (permission) => permission.onSuccess(200))
 * ```
 *
 * @since 0.1.0
 */
export const acquirePermission = <E, A>(
  breaker: CircuitBreaker<E, A>
): Effect.Effect<Permission<E, A>, CallNotPermittedError> =>
  Effect.map(
    acquireManually<A, E, CallNotPermittedError>((call) => withCircuitBreaker(call, breaker)),
    (settlement): Permission<E, A> => ({
      breakerName: breaker.name,
      onSuccess: settlement.succeed,
      onError: settlement.fail,
      release: settlement.release,
      settled: settlement.settled
    })
  )

/**
 * Like {@link acquirePermission}, with a refusal as `None` (Resilience4j's `tryAcquirePermission`,
 * which answers `false`).
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker
 * const admitted = Effect.map(CircuitBreaker.tryAcquirePermission(breaker), Option.isSome)
 * ```
 *
 * @since 0.1.0
 */
export const tryAcquirePermission = <E, A>(
  breaker: CircuitBreaker<E, A>
): Effect.Effect<Option.Option<Permission<E, A>>> =>
  acquirePermission(breaker).pipe(
    Effect.map(Option.some),
    Effect.catchTag("CallNotPermittedError", () => Effect.succeed(Option.none()))
  )

/**
 * A breaker's resolved configuration, defaults filled in (Resilience4j's `CircuitBreakerConfig`, as
 * `getCircuitBreakerConfig()` returns it). Durations are `Duration`s; `waitDurationInOpenState` is the
 * wait schedule when one was given.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "breakwater"
 *
 * const describe = (config: CircuitBreaker.Configuration) =>
 *   `${config.name}: ${config.failureRateThreshold}% of ${config.slidingWindowSize} calls`
 * ```
 *
 * @since 0.1.0
 */
export interface Configuration<E = unknown, A = unknown> {
  readonly name: string
  readonly failureRateThreshold: number
  readonly slowCallRateThreshold: number
  readonly slowCallDurationThreshold: Duration.Duration
  readonly slidingWindowType: "COUNT_BASED" | "TIME_BASED"
  readonly slidingWindowSize: number
  readonly minimumNumberOfCalls: number
  readonly permittedNumberOfCallsInHalfOpenState: number
  readonly maxWaitDurationInHalfOpenState: Duration.Duration
  readonly transitionToStateAfterWaitDuration: "Open" | "Closed"
  readonly waitDurationInOpenState: Duration.Duration | Schedule.Schedule<unknown, number>
  readonly automaticTransitionFromOpenToHalfOpenEnabled: boolean
  readonly onStoreFailure: OnStoreFailure | undefined
  readonly recordError: ((error: E) => boolean) | undefined
  readonly ignoreError: ((error: E) => boolean) | undefined
  readonly recordResult: ((value: A) => boolean) | undefined
}

/**
 * Reads a breaker's current configuration back (it changes with `reconfigure` and `Registry.reload`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker
 * const windowSize = Effect.map(CircuitBreaker.configuration(breaker), (config) => config.slidingWindowSize)
 * ```
 *
 * @since 0.1.0
 */
export const configuration = <E, A>(breaker: CircuitBreaker<E, A>): Effect.Effect<Configuration<E, A>> =>
  Effect.sync(() => {
    const c = (breaker as unknown as { readonly config: ResolvedOptions }).config
    const wait = c.waitDurationInOpenState
    return {
      // The breaker's own name: a keyed breaker's keys share one decoded configuration.
      name: breaker.name,
      failureRateThreshold: c.failureRateThreshold,
      slowCallRateThreshold: c.slowCallRateThreshold,
      slowCallDurationThreshold: Duration.decode(c.slowCallDurationThreshold),
      slidingWindowType: c.slidingWindowType,
      slidingWindowSize: c.slidingWindowSize,
      minimumNumberOfCalls: c.minimumNumberOfCalls,
      permittedNumberOfCallsInHalfOpenState: c.permittedNumberOfCallsInHalfOpenState,
      maxWaitDurationInHalfOpenState: Duration.decode(c.maxWaitDurationInHalfOpenState),
      transitionToStateAfterWaitDuration: c.transitionToStateAfterWaitDuration,
      waitDurationInOpenState: Schedule.isSchedule(wait)
        ? (wait as Schedule.Schedule<unknown, number>)
        : Duration.decode(wait as Duration.DurationInput),
      automaticTransitionFromOpenToHalfOpenEnabled: c.automaticTransitionFromOpenToHalfOpenEnabled,
      onStoreFailure: c.onStoreFailure,
      recordError: c.recordError as ((error: E) => boolean) | undefined,
      ignoreError: c.ignoreError as ((error: E) => boolean) | undefined,
      recordResult: c.recordResult as ((value: A) => boolean) | undefined
    }
  })

/**
 * A Layer that builds the breaker for a service tag; the breaker lives as long as the layer.
 *
 * @example
 * ```ts
 * import { Context, Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * class PaymentsBreaker extends Context.Tag("PaymentsBreaker")<PaymentsBreaker, CircuitBreaker.CircuitBreaker>() {}
 *
 * const PaymentsBreakerLive = CircuitBreaker.layer(PaymentsBreaker, { name: "payments" })
 * const program = Effect.flatMap(PaymentsBreaker, (breaker) => breaker.state).pipe(Effect.provide(PaymentsBreakerLive))
 * ```
 *
 * @since 0.1.0
 */
export const layer = <I, E, A>(
  tag: Context.Tag<I, CircuitBreaker<E, A>>,
  options: Options<E, A>
): Layer.Layer<I, InvalidConfigError> => Layer.scoped(tag, make(options))

/**
 * The plain (non-function) options read through `effect/Config` under the namespace `name`, e.g. the
 * keys `payments.failureRateThreshold` from JSON, or `PAYMENTS_FAILURE_RATE_THRESHOLD` from the
 * environment with `ConfigProvider.fromEnv().pipe(ConfigProvider.constantCase)`. Absent keys take
 * the defaults; the values are checked by the same Schema as {@link make}'s.
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({ payments: { failureRateThreshold: 25, waitDurationInOpenState: "10 seconds" } })
 * const options = Effect.withConfigProvider(CircuitBreaker.config("payments"), provider)
 * ```
 *
 * @since 0.1.0
 */
export const config = (name: string): Config.Config<Options> =>
  Config.nested(readFields(configFields), name).pipe(Config.map((values) => ({ ...values, name }) as Options))

/**
 * Like {@link layer}, with the options read from `effect/Config` (see {@link config}); `code` adds
 * what configuration cannot carry (predicates, a `Schedule`). Bad values fail with
 * `InvalidConfigError` naming the field; unreadable ones with `ConfigError`.
 *
 * @example
 * ```ts
 * import { Context } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * class PaymentsBreaker extends Context.Tag("PaymentsBreaker")<PaymentsBreaker, CircuitBreaker.CircuitBreaker>() {}
 *
 * const PaymentsBreakerLive = CircuitBreaker.layerConfig(PaymentsBreaker, CircuitBreaker.config("payments"))
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = <I, E = unknown, A = unknown>(
  tag: Context.Tag<I, CircuitBreaker<E, A>>,
  options: Config.Config<Options>,
  code?: Omit<Options<E, A>, "name">
): Layer.Layer<I, InvalidConfigError | ConfigError.ConfigError> =>
  Layer.scoped(tag, Effect.flatMap(options, (read) => make<E, A>({ ...read, ...code } as Options<E, A>)))

/**
 * The options of a {@link keyed} breaker: those of each key's breaker, plus the bounds on keys.
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
  readonly idleTimeToLive?: Duration.DurationInput
  /**
   * Called with each key's breaker in a scope that ends when the key is dropped, e.g.
   * `collector.track` so `Metrics` exports each live key (series removed on eviction, so at most
   * `maxKeys` of them).
   */
  readonly track?: (breaker: CircuitBreaker<E, A>) => Effect.Effect<void, never, Scope.Scope>
}

/**
 * One breaker per string key (per tenant, per host), as Effect 4's `effect/persistence` CircuitBreaker
 * serves many keys: each key's breaker is made on first use from the same options, named `name:key`,
 * dropped after `idleTimeToLive` unused, and the live keys are bounded by `maxKeys`. One key's state
 * never refuses another key's calls.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const perTenant = yield* CircuitBreaker.keyed({ name: "tenant", minimumNumberOfCalls: 10 })
 *     return yield* Effect.succeed("report").pipe(perTenant.withCircuitBreaker("acme"))
 *   })
 * )
 * ```
 *
 * @since 0.2.0
 */
export interface Keyed<in E = unknown, in A = unknown> {
  /** Guards `self` with the key's breaker. */
  readonly withCircuitBreaker: (
    key: string
  ) => <A2 extends A, E2 extends E, R>(
    self: Effect.Effect<A2, E2, R>
  ) => Effect.Effect<A2, E2 | CallNotPermittedError, R>
  /** The key's breaker as a {@link Policy}. */
  readonly policy: (key: string) => Policy<CallNotPermittedError, never, E, A>
  /** The keys with a live breaker, least recently used first. */
  readonly keys: Effect.Effect<ReadonlyArray<string>>
  /** The live breakers (give them to `Snapshot.ofGuards` or `Health.ofGuards`). */
  readonly guards: Effect.Effect<ReadonlyArray<CircuitBreaker<E, A>>>
  /** Live keys, the bound, keys dropped so far, and calls run unguarded because every key was pinned. */
  readonly metrics: Effect.Effect<KeyedMetrics>
}

/**
 * The figures of a {@link Keyed} breaker.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "breakwater"
 *
 * const full = (m: CircuitBreaker.KeyedMetrics) => m.keys >= m.maxKeys
 * ```
 *
 * @since 0.2.0
 */
export interface KeyedMetrics {
  readonly keys: number
  readonly maxKeys: number
  readonly evictedKeys: number
  readonly untrackedCalls: number
}

/**
 * Creates a {@link Keyed} breaker in the current scope. Fails with `InvalidConfigError` on bad options
 * (the per-key options are checked at once, not on the first key).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * const perHost = CircuitBreaker.keyed({ name: "hosts", maxKeys: 1_000, idleTimeToLive: "5 minutes" })
 * const program = Effect.scoped(Effect.flatMap(perHost, (breakers) => breakers.keys))
 * ```
 *
 * @since 0.2.0
 */
export const keyed = <E = unknown, A = unknown>(
  options: KeyedOptions<E, A>
): Effect.Effect<Keyed<E, A>, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const { idleTimeToLive, maxKeys, track, ...perKey } = options
    const config = yield* decodeOptions(OptionsSchema, "CircuitBreaker", perKey)
    // In process, every key shares the decoded options and the machine's settings (a key then costs
    // its own state only); with a store, each key's breaker is made as `make` makes it.
    const inProcess = Option.isNone(yield* Effect.serviceOption(Store))
    const settings = settingsOf(config, perKey)
    const makeKey = (name: string, scope: LazyScope): Effect.Effect<CircuitBreaker<E, A>, InvalidConfigError> =>
      inProcess
        ? Effect.map(Effect.clock, (clock) => new CircuitBreakerImpl<E, A>(name, settings, clock, scope))
        : Effect.flatMap(scope.scope, (forked) => Scope.extend(make<E, A>({ ...perKey, name }), forked))
    const shell = yield* makeKeyedShell<CircuitBreaker<E, A>>(
      { name: options.name, maxKeys, idleTimeToLive, track },
      makeKey,
      // The guard only sees effects `Keyed`'s signature already restricted to `E` and `A`.
      (self, breaker) => (breaker as CircuitBreakerImpl<any, any>).guard(self),
      (breaker, now) => {
        // A shared breaker's state lives in its store: dropping the local instance forgets nothing.
        if (!(breaker instanceof CircuitBreakerImpl)) return false
        return breaker.refusesNow(now)
      }
    )
    const guardKey = (key: string) => shell.guard(key) as Policy<CallNotPermittedError, never, E, A>
    return {
      withCircuitBreaker: guardKey,
      policy: guardKey,
      keys: shell.keys,
      guards: shell.guards,
      metrics: shell.figures
    } satisfies Keyed<E, A>
  })
