/**
 * Retries with Resilience4j's options and defaults, any Effect `Schedule` for the delays, and an
 * optional shared {@link RetryBudget} so that retries can never multiply load.
 *
 * ## When to use
 * Around a call whose failures are often transient (a dropped connection, a 503 during a deploy).
 * Put it outermost, in Resilience4j's order: Retry(CircuitBreaker(RateLimiter(call))).
 *
 * ## Gotchas
 * - `maxAttempts` counts the first call: the default 3 means at most 2 retries.
 * - Refusals are not load: `CallNotPermittedError`, `RequestNotPermittedError`,
 *   `BulkheadFullError`, the adaptive limiter's `LimitExceededError` and the adaptive throttler's
 *   `ThrottledError` are not retried unless `retryRejections` is true, and then never sooner than
 *   their `retryAfter` hint. Defects and interruptions are never retried.
 * - Any typed error carrying `retryAfter: Option<Duration>` (a refusal, an HTTP 429 or 503 with
 *   `Retry-After`) is retried no sooner than that hint, whatever the schedule says.
 * - Without a budget, nested retries multiply: three layers of 3 attempts send 27 calls per request
 *   to a dead dependency. Give each layer a `RetryBudget`.
 * - The schedule is stepped once per retry (its state starts afresh with each call); when it ends,
 *   retrying ends, whatever `maxAttempts` says. Delays are slept on `Clock`.
 *
 * @example
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { Retry, RetryBudget } from "breakwater"
 *
 * const fetchStock = (sku: string) => Effect.succeed({ sku, count: 3 })
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const budget = yield* RetryBudget.make({ name: "inventory" })
 *     const retry = yield* Retry.make({
 *       name: "inventory",
 *       maxAttempts: 4,
 *       schedule: Schedule.exponential("100 millis").pipe(Schedule.jittered),
 *       budget
 *     })
 *     return yield* fetchStock("A-1").pipe(Retry.withRetry(retry))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import { type ConfigFailure, currentClock, layerScoped, readFields, type ServiceKey, type UserSchedule } from "#port"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import { makeEventHub } from "../shared/internal/eventHub.js"
import type { Policy } from "../shared/Policy.js"
import { Event, MaxRetriesExceededError, type Options, type Reconfiguration, type Retry } from "./internal/retryApi.js"
import { retryConfigFields } from "./internal/retryConfig.js"
export {
  Event,
  MaxRetriesExceededError,
  type Metrics,
  type Options,
  type Reconfiguration,
  type Retry
} from "./internal/retryApi.js"
import { decode, RetryImpl, type Settings } from "./internal/retryImpl.js"

/**
 * What a retry made with options `O` adds to a call's errors: `MaxRetriesExceededError` only when
 * `retryOnResult` is given and `failAfterMaxAttempts` may be `true`; `never` otherwise.
 *
 * @example
 * ```ts
 * import type { Retry } from "breakwater"
 *
 * type Plain = Retry.RaisedBy<{ name: "a"; maxAttempts: 3 }> // never
 * type Strict = Retry.RaisedBy<{ name: "a"; retryOnResult: (s: string) => boolean; failAfterMaxAttempts: true }>
 * //   ^? MaxRetriesExceededError
 * ```
 *
 * @since 0.1.0
 */
export type RaisedBy<O> = [FieldOf<O, "retryOnResult">] extends [undefined] ? never
  : [FieldOf<O, "failAfterMaxAttempts">] extends [false | undefined] ? never
  : MaxRetriesExceededError

/** `O[K]`, or `undefined` when `O` has no `K` (a conditional on an all-optional type would be a weak-type check). */
type FieldOf<O, K extends string> = K extends keyof O ? O[K] : undefined

/**
 * Changes a running retry's options in place: counters are kept, calls already running finish with
 * the options they started with, and the changed options are validated like {@link make}'s (on
 * failure nothing changes). `undefined` puts a field back to its default. Dual.
 *
 * @example
 * ```ts
 * import { pipe, Schedule } from "effect"
 * import { Retry } from "breakwater"
 *
 * declare const retry: Retry.Retry
 * const backOff = Retry.reconfigure(retry, { maxAttempts: 5, schedule: Schedule.exponential("1 second") })
 * const fewer = pipe(retry, Retry.reconfigure({ maxAttempts: 2 }))
 * ```
 *
 * @since 0.1.0
 */
export const reconfigure: {
  <E, A>(changes: Reconfiguration<E, A>): (retry: Retry<E, A>) => Effect.Effect<void, InvalidConfigError>
  <E, A>(retry: Retry<E, A>, changes: Reconfiguration<E, A>): Effect.Effect<void, InvalidConfigError>
} = dual(
  2,
  <E, A>(retry: Retry<E, A>, changes: Reconfiguration<E, A>) => (retry as RetryImpl<E, A>).reconfigure(changes)
)

/**
 * Creates a retry. Fails with `InvalidConfigError`, listing every bad field, before anything starts;
 * its event hub lives in the surrounding `Scope`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Retry } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const retry = yield* Retry.make({ name: "payments", maxAttempts: 3, waitDuration: "200 millis" })
 *     return yield* Effect.succeed("charged").pipe(Retry.withRetry(retry))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make: {
  <E = unknown, A = unknown>(
    options: Options<E, A> & { readonly retryOnResult: (value: A) => boolean; readonly failAfterMaxAttempts: true }
  ): Effect.Effect<Retry<E, A, MaxRetriesExceededError>, InvalidConfigError, Scope.Scope>
  <E = unknown, A = unknown>(
    options: Options<E, A> & { readonly failAfterMaxAttempts?: false | undefined }
  ): Effect.Effect<Retry<E, A, never>, InvalidConfigError, Scope.Scope>
  <E = unknown, A = unknown>(
    options: Options<E, A> & { readonly retryOnResult?: undefined }
  ): Effect.Effect<Retry<E, A, never>, InvalidConfigError, Scope.Scope>
  <E = unknown, A = unknown>(
    options: Options<E, A>
  ): Effect.Effect<Retry<E, A, MaxRetriesExceededError>, InvalidConfigError, Scope.Scope>
} = <E, A>(options: Options<E, A>): Effect.Effect<RetryImpl<E, A>, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* decode(options)
    const clock = yield* currentClock
    const hub = yield* makeEventHub<Event>()
    return new RetryImpl<E, A>(options.name, options, settings, clock, hub)
  })

/**
 * Runs `self`, and runs it again while it fails with a retryable error (or returns a value
 * `retryOnResult` rejects), up to `maxAttempts` attempts in all, waiting between attempts. Dual:
 * `withRetry(self, retry)` or `self.pipe(withRetry(retry))`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Retry } from "breakwater"
 *
 * declare const retry: Retry.Retry
 * const guarded = Effect.succeed("ok").pipe(Retry.withRetry(retry))
 * const same = Retry.withRetry(Effect.succeed("ok"), retry)
 * ```
 *
 * @since 0.1.0
 */
export const withRetry: {
  <EB, AB, X extends MaxRetriesExceededError>(
    retry: Retry<EB, AB, X>
  ): <A extends AB, E extends EB, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | X, R>
  <A extends AB, E extends EB, R, EB, AB, X extends MaxRetriesExceededError>(
    self: Effect.Effect<A, E, R>,
    retry: Retry<EB, AB, X>
  ): Effect.Effect<A, E | X, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, retry: Retry<E, A>) => (retry as RetryImpl<E, A>).guard(self)
)

/**
 * A retry's current configuration (Resilience4j's `getRetryConfig()`): `waitDuration` is the fixed wait
 * (zero when a `schedule` sets the waits), `budget` the name of the retry budget in use.
 *
 * @example
 * ```ts
 * import type { Retry } from "breakwater"
 *
 * const describe = (config: Retry.Configuration) => `${config.maxAttempts} attempts`
 * ```
 *
 * @since 0.1.0
 */
export interface Configuration<E = unknown, A = unknown> {
  readonly name: string
  readonly maxAttempts: number
  readonly waitDuration: Duration.Duration
  readonly schedule: UserSchedule<unknown> | undefined
  readonly retryOn: ((error: E) => boolean) | undefined
  readonly retryOnResult: ((value: A) => boolean) | undefined
  readonly failAfterMaxAttempts: boolean
  readonly retryRejections: boolean
  readonly budget: string | undefined
}

/**
 * Reads a retry's current configuration back (it changes with `reconfigure` and `Registry.reload`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Retry } from "breakwater"
 *
 * declare const retry: Retry.Retry
 * const attempts = Effect.map(Retry.configuration(retry), (config) => config.maxAttempts)
 * ```
 *
 * @since 0.1.0
 */
export const configuration = <E, A, X extends MaxRetriesExceededError>(
  retry: Retry<E, A, X>
): Effect.Effect<Configuration<E, A>> =>
  Effect.sync(() => {
    const s = (retry as unknown as { readonly settings: Settings }).settings
    return {
      name: retry.name,
      maxAttempts: s.maxAttempts,
      waitDuration: Duration.millis(s.waitMillis),
      schedule: s.schedule,
      retryOn: s.retryOn,
      retryOnResult: s.retryOnResult,
      failAfterMaxAttempts: s.failAfterMaxAttempts,
      retryRejections: s.retryRejections,
      budget: (s.budget as { readonly name?: string } | undefined)?.name
    }
  })

/**
 * The retry as a {@link Policy}, for `Policy.compose`; it adds only `MaxRetriesExceededError`, and
 * that only when the retry's options can raise it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Retry } from "breakwater"
 *
 * declare const retry: Retry.Retry
 * const guard = Retry.policy(retry)
 * const guarded = guard(Effect.succeed(1))
 * ```
 *
 * @since 0.1.0
 */
export const policy = <EB, AB, X extends MaxRetriesExceededError>(
  retry: Retry<EB, AB, X>
): Policy<X, never, EB, AB> =>
(self) => withRetry(self, retry)

/**
 * A Layer that builds the retry for a service tag; the retry lives as long as the layer. A tag typed
 * `Retry.Retry<E, A, never>` (calls never end with `MaxRetriesExceededError`) takes only options that
 * cannot raise it (as {@link make}'s types); a tag typed `Retry.Retry<E, A>` takes any options.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { Context, Effect } from "effect"
 * import { Retry } from "breakwater"
 *
 * class PaymentsRetry extends Context.Tag("PaymentsRetry")<PaymentsRetry, Retry.Retry>() {}
 * // No retryOnResult: the calls it guards never fail with MaxRetriesExceededError.
 * class QuotesRetry extends Context.Tag("QuotesRetry")<QuotesRetry, Retry.Retry<unknown, unknown, never>>() {}
 *
 * const PaymentsRetryLive = Retry.layer(PaymentsRetry, { name: "payments", maxAttempts: 4 })
 * const QuotesRetryLive = Retry.layer(QuotesRetry, { name: "quotes", maxAttempts: 2 })
 * const program = Effect.flatMap(PaymentsRetry, (retry) => retry.metrics).pipe(Effect.provide(PaymentsRetryLive))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context, Effect } from "effect"
 * import { Retry } from "breakwater"
 *
 * class PaymentsRetry extends Context.Service<PaymentsRetry, Retry.Retry>()("PaymentsRetry") {}
 * // No retryOnResult: the calls it guards never fail with MaxRetriesExceededError.
 * class QuotesRetry extends Context.Service<QuotesRetry, Retry.Retry<unknown, unknown, never>>()("QuotesRetry") {}
 *
 * const PaymentsRetryLive = Retry.layer(PaymentsRetry, { name: "payments", maxAttempts: 4 })
 * const QuotesRetryLive = Retry.layer(QuotesRetry, { name: "quotes", maxAttempts: 2 })
 * const program = Effect.flatMap(PaymentsRetry, (retry) => retry.metrics).pipe(Effect.provide(PaymentsRetryLive))
 * ```
 *
 * @since 0.1.0
 */
export const layer = <I, E, A, X extends MaxRetriesExceededError>(
  tag: ServiceKey<I, Retry<E, A, X>>,
  // What the tag says its calls raise (`X`, read from the tag) decides which options it takes: one
  // signature rather than an overload per case, as Effect 4's service keys are covariant (a tag typed
  // `never` would also match an overload for `Retry<E, A>`).
  options:
    & Options<E, A>
    & ([X] extends [never]
      ? { readonly failAfterMaxAttempts?: false | undefined } | { readonly retryOnResult?: undefined }
      : unknown)
): Layer.Layer<I, InvalidConfigError> => layerScoped(tag as ServiceKey<I, any>, make(options as Options<any, any>))

/**
 * The plain options (`maxAttempts`, `waitDuration`, `failAfterMaxAttempts`, `retryRejections`) read
 * through `effect/Config` under the namespace `name`. Absent keys take the defaults; values are
 * checked by the same Schema as {@link make}'s.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { ConfigProvider, Effect } from "effect"
 * import { Retry } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({ payments: { maxAttempts: 5, waitDuration: "1 second" } })
 * const options = Effect.withConfigProvider(Retry.config("payments"), provider)
 * ```
 *
 * ```ts
 * // Effect 4
 * import { ConfigProvider, Effect } from "effect"
 * import { Retry } from "breakwater"
 *
 * const provider = ConfigProvider.fromUnknown({ payments: { maxAttempts: 5, waitDuration: "1 second" } })
 * const options = Effect.provideService(Retry.config("payments"), ConfigProvider.ConfigProvider, provider)
 * ```
 *
 * @since 0.1.0
 */
export const config = (name: string): Config.Config<Options> =>
  Config.nested(readFields(retryConfigFields), name).pipe(Config.map((values) => ({ ...values, name }) as Options))

/**
 * Like {@link layer}, with the options read from `effect/Config` (see {@link config}); `code` adds
 * what configuration cannot carry (predicates, a `Schedule`, a budget); a `schedule` in `code` and a
 * `waitDuration` in configuration clash, as in {@link make}. Bad values fail with `InvalidConfigError`
 * naming the field; unreadable ones with `ConfigError`.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { Context, Schedule } from "effect"
 * import { Retry } from "breakwater"
 *
 * class PaymentsRetry extends Context.Tag("PaymentsRetry")<PaymentsRetry, Retry.Retry>() {}
 *
 * const PaymentsRetryLive = Retry.layerConfig(PaymentsRetry, Retry.config("payments"), {
 *   schedule: Schedule.exponential("100 millis")
 * })
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context, Schedule } from "effect"
 * import { Retry } from "breakwater"
 *
 * class PaymentsRetry extends Context.Service<PaymentsRetry, Retry.Retry>()("PaymentsRetry") {}
 *
 * const PaymentsRetryLive = Retry.layerConfig(PaymentsRetry, Retry.config("payments"), {
 *   schedule: Schedule.exponential("100 millis")
 * })
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = <I, E = unknown, A = unknown>(
  tag: ServiceKey<I, Retry<E, A>>,
  options: Config.Config<Options>,
  code?: Omit<Options<E, A>, "name">
): Layer.Layer<I, InvalidConfigError | ConfigFailure> =>
  layerScoped(
    tag,
    Effect.flatMap(options, (read) => Effect.map(make<E, A>({ ...read, ...code } as Options<E, A>), widen))
  )

/**
 * A retry typed as able to raise `MaxRetriesExceededError`, so that reconfiguring it (from
 * configuration, by a Registry) may turn `failAfterMaxAttempts` on.
 */
const widen = <E, A>(retry: Retry<E, A>): Retry<E, A> => {
  ;(retry as RetryImpl<E, A>).mayRaise = true
  return retry
}
