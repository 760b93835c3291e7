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
import {
  type ConfigFailure,
  type DurationInput,
  layerScoped,
  readFields,
  type ServiceKey,
  toDuration,
  type UserSchedule
} from "#port"
import * as Config from "effect/Config"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import type { Policy } from "../shared/Policy.js"
import type { OnStoreFailure } from "../store/Store.js"
import type { CallNotPermittedError, CircuitBreaker, Options } from "./internal/circuitBreakerApi.js"
export {
  CallNotPermittedError,
  type CircuitBreaker,
  Event,
  IllegalStateTransitionError,
  type KeyedOptions,
  type Metrics,
  type Options,
  type State
} from "./internal/circuitBreakerApi.js"
export { type Keyed, keyed, type KeyedMetrics } from "./internal/circuitBreakerKeyed.js"
import { configFields, type ResolvedOptions } from "./internal/circuitBreakerConfig.js"
import type { CircuitBreakerImpl } from "./internal/circuitBreakerImpl.js"
import { makeCircuitBreaker } from "./internal/makeCircuitBreaker.js"
import { acquire as acquireManually } from "./internal/manualPermission.js"

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
export const make: <E = unknown, A = unknown>(
  options: Options<E, A>
) => Effect.Effect<CircuitBreaker<E, A>, InvalidConfigError, Scope.Scope> = makeCircuitBreaker

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
 *   const [error, body] = yield* Effect.promise(() =>
 *     new Promise<[Error | null, string]>((done) => fetchWithCallback((error, body) => done([error, body])))
 *   )
 *   yield* error === null ? permission.onSuccess(body) : permission.onError(error)
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
  readonly waitDurationInOpenState: Duration.Duration | UserSchedule<number>
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
      slowCallDurationThreshold: toDuration(c.slowCallDurationThreshold),
      slidingWindowType: c.slidingWindowType,
      slidingWindowSize: c.slidingWindowSize,
      minimumNumberOfCalls: c.minimumNumberOfCalls,
      permittedNumberOfCallsInHalfOpenState: c.permittedNumberOfCallsInHalfOpenState,
      maxWaitDurationInHalfOpenState: toDuration(c.maxWaitDurationInHalfOpenState),
      transitionToStateAfterWaitDuration: c.transitionToStateAfterWaitDuration,
      waitDurationInOpenState: Schedule.isSchedule(wait)
        ? (wait as UserSchedule<number>)
        : toDuration(wait as DurationInput),
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
 * // Effect 3
 * import { Context, Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * class PaymentsBreaker extends Context.Tag("PaymentsBreaker")<PaymentsBreaker, CircuitBreaker.CircuitBreaker>() {}
 *
 * const PaymentsBreakerLive = CircuitBreaker.layer(PaymentsBreaker, { name: "payments" })
 * const program = Effect.flatMap(PaymentsBreaker, (breaker) => breaker.state).pipe(Effect.provide(PaymentsBreakerLive))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context, Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * class PaymentsBreaker extends Context.Service<PaymentsBreaker, CircuitBreaker.CircuitBreaker>()("PaymentsBreaker") {}
 *
 * const PaymentsBreakerLive = CircuitBreaker.layer(PaymentsBreaker, { name: "payments" })
 * const program = Effect.flatMap(PaymentsBreaker, (breaker) => breaker.state).pipe(Effect.provide(PaymentsBreakerLive))
 * ```
 *
 * @since 0.1.0
 */
export const layer = <I, E, A>(
  tag: ServiceKey<I, CircuitBreaker<E, A>>,
  options: Options<E, A>
): Layer.Layer<I, InvalidConfigError> => layerScoped(tag, make(options))

/**
 * The plain (non-function) options read through `effect/Config` under the namespace `name`, e.g. the
 * keys `payments.failureRateThreshold` from JSON, or `PAYMENTS_FAILURE_RATE_THRESHOLD` from the
 * environment with `ConfigProvider.fromEnv().pipe(ConfigProvider.constantCase)`. Absent keys take
 * the defaults; the values are checked by the same Schema as {@link make}'s.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { ConfigProvider, Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({ payments: { failureRateThreshold: 25, waitDurationInOpenState: "10 seconds" } })
 * const options = Effect.withConfigProvider(CircuitBreaker.config("payments"), provider)
 * ```
 *
 * ```ts
 * // Effect 4
 * import { ConfigProvider, Effect } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * const provider = ConfigProvider.fromUnknown({ payments: { failureRateThreshold: 25, waitDurationInOpenState: "10 seconds" } })
 * const options = Effect.provideService(CircuitBreaker.config("payments"), ConfigProvider.ConfigProvider, provider)
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
 * // Effect 3
 * import { Context } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * class PaymentsBreaker extends Context.Tag("PaymentsBreaker")<PaymentsBreaker, CircuitBreaker.CircuitBreaker>() {}
 *
 * const PaymentsBreakerLive = CircuitBreaker.layerConfig(PaymentsBreaker, CircuitBreaker.config("payments"))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context } from "effect"
 * import { CircuitBreaker } from "breakwater"
 *
 * class PaymentsBreaker extends Context.Service<PaymentsBreaker, CircuitBreaker.CircuitBreaker>()("PaymentsBreaker") {}
 *
 * const PaymentsBreakerLive = CircuitBreaker.layerConfig(PaymentsBreaker, CircuitBreaker.config("payments"))
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = <I, E = unknown, A = unknown>(
  tag: ServiceKey<I, CircuitBreaker<E, A>>,
  options: Config.Config<Options>,
  code?: Omit<Options<E, A>, "name">
): Layer.Layer<I, InvalidConfigError | ConfigFailure> =>
  layerScoped(tag, Effect.flatMap(options, (read) => make<E, A>({ ...read, ...code } as Options<E, A>)))
