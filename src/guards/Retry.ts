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
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import { isLocalRefusal } from "../core/refusals.js"
import type { BudgetHandle } from "../core/retryBudgetCore.js"
import { retryAfterField } from "../shared/internal/errors.js"
import { type EventHub, makeEventHub } from "../shared/internal/eventHub.js"
import { currentSpan, spanEvent } from "../shared/internal/observe.js"
import { decodeOptions, invalidConfig, readFields } from "../shared/internal/validation.js"
import type { InvalidConfigError } from "../shared/InvalidConfigError.js"
import type { Policy } from "../shared/Policy.js"
import { DEFAULT_WAIT, retryConfigFields, RetryOptionsSchema } from "./internal/retryConfig.js"
import type { RetryBudget } from "./RetryBudget.js"

/**
 * The retry's options. Names and defaults follow Resilience4j's `RetryConfig`; durations accept any
 * `Duration.DurationInput`. Give `waitDuration` or `schedule`, not both.
 *
 * `E` and `A` are the error and value types the predicates look at; the retry then guards only
 * effects whose errors and values are of those types.
 *
 * @example
 * ```ts
 * import { Schedule } from "effect"
 * import type { Retry } from "breakwater"
 *
 * const options: Retry.Options<{ readonly status: number }, { readonly body: string }> = {
 *   name: "search",
 *   maxAttempts: 5,
 *   schedule: Schedule.exponential("50 millis").pipe(Schedule.jittered, Schedule.upTo("2 seconds")),
 *   retryOn: (error) => error.status >= 500,
 *   retryOnResult: (response) => response.body === "",
 *   failAfterMaxAttempts: true
 * }
 * ```
 *
 * @since 0.1.0
 */
export interface Options<E = unknown, A = unknown> {
  readonly name: string
  /** Attempts in all, the first call included; ≥ 1. Default 3. */
  readonly maxAttempts?: number
  /** A fixed wait between attempts, ≥ 0. Default 500 ms (when no `schedule` is given). */
  readonly waitDuration?: Duration.DurationInput
  /**
   * The delays between attempts, from any `Schedule` (exponential, jittered, capped), stepped once per
   * retry; when it ends, retrying ends. It gives only the delays: what is retried is for `retryOn`
   * and `retryOnResult` to say, so its input type is `unknown`.
   */
  readonly schedule?: Schedule.Schedule<unknown>
  /** Which typed errors are worth retrying (default: all but refusals, see `retryRejections`). */
  readonly retryOn?: (error: E) => boolean
  /** Success values to retry, e.g. a 200 response with an unusable body. */
  readonly retryOnResult?: (value: A) => boolean
  /**
   * What a value `retryOnResult` still rejects after the last attempt becomes: the value itself
   * (false, the default) or a `MaxRetriesExceededError` (true).
   */
  readonly failAfterMaxAttempts?: boolean
  /**
   * Retry refusals from other guards (`CallNotPermittedError`, `RequestNotPermittedError`,
   * `BulkheadFullError`), waiting at least their `retryAfter` hint. Default false: fail fast.
   */
  readonly retryRejections?: boolean
  /** A budget shared with other retries: a retry it refuses is not made. */
  readonly budget?: RetryBudget
}

/**
 * Options to change on a running retry; `undefined` puts a field back to its default. Giving a
 * `schedule` drops the current `waitDuration`, and the other way round.
 *
 * @example
 * ```ts
 * import type { Retry } from "breakwater"
 *
 * const slower: Retry.Reconfiguration = { maxAttempts: 2, waitDuration: "2 seconds" }
 * ```
 *
 * @since 0.1.0
 */
export type Reconfiguration<E = unknown, A = unknown> = {
  readonly [K in Exclude<keyof Options<E, A>, "name">]?: Options<E, A>[K] | undefined
}

/**
 * Calls counted by outcome, with Resilience4j's names; its Micrometer kinds are, in order,
 * `successful_without_retry`, `successful_with_retry`, `failed_without_retry` and
 * `failed_with_retry`. A call is "with retry" when at least one retry was made.
 *
 * @example
 * ```ts
 * import type { Retry } from "breakwater"
 *
 * const retried = (m: Retry.Metrics) => m.numberOfSuccessfulCallsWithRetryAttempt + m.numberOfFailedCallsWithRetryAttempt
 * ```
 *
 * @since 0.1.0
 */
export interface Metrics {
  readonly numberOfSuccessfulCallsWithoutRetryAttempt: number
  readonly numberOfSuccessfulCallsWithRetryAttempt: number
  readonly numberOfFailedCallsWithoutRetryAttempt: number
  readonly numberOfFailedCallsWithRetryAttempt: number
  /** Retries the budget refused (each ended its call with the last failure). */
  readonly numberOfRetriesRefusedByBudget: number
}

/**
 * Every attempt returned a value `retryOnResult` rejects, and `failAfterMaxAttempts` is on.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Retry } from "breakwater"
 *
 * declare const search: Effect.Effect<string, Retry.MaxRetriesExceededError>
 *
 * const lastAnswer = search.pipe(Effect.catchTag("MaxRetriesExceededError", (e) => Effect.succeed(String(e.lastValue))))
 * ```
 *
 * @since 0.1.0
 */
export class MaxRetriesExceededError extends Data.TaggedError("MaxRetriesExceededError")<{
  readonly retryName: string
  readonly attempts: number
  readonly lastValue: unknown
}> {
  override get message(): string {
    return `Retry '${this.retryName}' has exhausted all attempts (${this.attempts})`
  }
}

/**
 * What a retry reports. Every event carries the retry's name and the `Clock` time in epoch millis.
 * `Retry` announces a retry (`attempt` is the number of the attempt about to start, 2 for the first
 * retry, and `wait` the delay before it); `Error` ends a call that was retried as long as allowed;
 * `IgnoredError` one whose failure is not retried; `BudgetExhausted` one whose retry the budget
 * refused. `error` is the typed error, the defect, or the value `retryOnResult` rejected.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Retry } from "breakwater"
 *
 * const logRetries = (retry: Retry.Retry) =>
 *   retry.events.pipe(
 *     Stream.filter(Retry.Event.$is("Retry")),
 *     Stream.runForEach((e) => Effect.log(`${e.retryName}: attempt ${e.attempt} in ${e.wait}`))
 *   )
 * ```
 *
 * @since 0.1.0
 */
export type Event = Data.TaggedEnum<{
  Retry: {
    readonly retryName: string
    readonly at: number
    readonly attempt: number
    readonly wait: Duration.Duration
    readonly error: unknown
  }
  Success: { readonly retryName: string; readonly at: number; readonly attempts: number }
  Error: { readonly retryName: string; readonly at: number; readonly attempts: number; readonly error: unknown }
  IgnoredError: { readonly retryName: string; readonly at: number; readonly attempts: number; readonly error: unknown }
  BudgetExhausted: {
    readonly retryName: string
    readonly at: number
    readonly attempts: number
    readonly budgetName: string
    readonly error: unknown
  }
}>

/**
 * Constructors and guards for {@link Event}.
 *
 * @example
 * ```ts
 * import { Retry } from "breakwater"
 *
 * const isRefusedRetry = Retry.Event.$is("BudgetExhausted")
 * ```
 *
 * @since 0.1.0
 */
export const Event = Data.taggedEnum<Event>()

/**
 * A running retry. Obtain one with {@link make} or {@link layer}; guard calls with {@link withRetry}
 * or {@link policy}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { Retry } from "breakwater"
 *
 * const report = (retry: Retry.Retry) =>
 *   Effect.flatMap(retry.metrics, (m) => Effect.log(`${retry.name}: ${m.numberOfFailedCallsWithRetryAttempt} failed after retrying`))
 * ```
 *
 * @since 0.1.0
 */
export interface Retry<
  in E = unknown,
  in A = unknown,
  out X extends MaxRetriesExceededError = MaxRetriesExceededError
> {
  readonly kind: "Retry"
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
  /** See {@link reconfigure}. */
  reconfigure(changes: Reconfiguration<E, A>): Effect.Effect<void, InvalidConfigError>
  /** @internal phantom: the retry only guards effects its predicates understand. */
  readonly _predicates?: (error: E, value: A) => void
  /** @internal phantom: `MaxRetriesExceededError` when the options can raise it, else `never`. */
  readonly _raises?: () => X
}

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

/** An error's `retryAfter` hint in millis (0 when absent). */
const retryAfterMillis = (error: unknown): number =>
  Option.match(retryAfterField(error), { onNone: () => 0, onSome: (d) => Math.max(0, Duration.toMillis(d)) })

/** The decoded options, in the shape the loop reads. */
interface Settings {
  readonly maxAttempts: number
  readonly waitMillis: number
  readonly schedule: Schedule.Schedule<unknown, unknown> | undefined
  readonly retryOn: ((error: unknown) => boolean) | undefined
  readonly retryOnResult: ((value: unknown) => boolean) | undefined
  readonly failAfterMaxAttempts: boolean
  readonly retryRejections: boolean
  readonly budget: BudgetHandle | undefined
}

const decode = <E, A>(options: Options<E, A>): Effect.Effect<Settings, InvalidConfigError> =>
  Effect.map(decodeOptions(RetryOptionsSchema, "Retry", options), (config) => ({
    maxAttempts: config.maxAttempts,
    waitMillis: config.schedule === undefined ? Duration.toMillis(config.waitDuration ?? DEFAULT_WAIT) : 0,
    schedule: config.schedule,
    retryOn: config.retryOn as ((error: unknown) => boolean) | undefined,
    retryOnResult: config.retryOnResult as ((value: unknown) => boolean) | undefined,
    failAfterMaxAttempts: config.failAfterMaxAttempts,
    retryRejections: config.retryRejections,
    budget: config.budget as unknown as BudgetHandle | undefined
  }))

/** Whether options with these values can end a call with `MaxRetriesExceededError` (see {@link RaisedBy}). */
const raises = (settings: Settings): boolean => settings.failAfterMaxAttempts && settings.retryOnResult !== undefined

class RetryImpl<E, A> implements Retry<E, A> {
  readonly kind = "Retry" as const
  /**
   * Whether this retry's type includes `MaxRetriesExceededError`: fixed at `make` from the options
   * (a Layer from configuration and a Registry widen it), so `reconfigure` cannot make a retry typed
   * without it raise it.
   */
  mayRaise: boolean
  private successfulWithoutRetry = 0
  private successfulWithRetry = 0
  private failedWithoutRetry = 0
  private failedWithRetry = 0
  private refusedByBudget = 0

  constructor(
    readonly name: string,
    private options: Options<E, A>,
    private settings: Settings,
    private readonly clock: Clock.Clock,
    private readonly hub: EventHub<Event>
  ) {
    this.mayRaise = raises(settings)
  }

  // ---- guarding calls ----------------------------------------------------------------------------

  guard<A2 extends A, E2 extends E, R>(
    self: Effect.Effect<A2, E2, R>
  ): Effect.Effect<A2, E2 | MaxRetriesExceededError, R> {
    // The first attempt depends only on `self` and the settings, so it is built once per settings (not
    // per call): most calls succeed at once and then cost no more than this suspend and one match.
    let firstFor: Settings | undefined
    let first: Effect.Effect<A2, E2 | MaxRetriesExceededError, R> | undefined
    return Effect.suspend(() => {
      const settings = this.settings
      if (settings.budget !== undefined) settings.budget.unsafeDeposit()
      const span = currentSpan()
      if (span !== undefined) {
        span.attribute("breakwater.retry.name", this.name)
        span.attribute("breakwater.retry.attempt", 1)
      }
      if (firstFor !== settings || first === undefined) {
        firstFor = settings
        first = this.attempt(self, settings, 1, undefined)
      }
      return first
    })
  }

  /** Runs attempt number `attempt`; nothing beyond the match is built until a retry is needed. */
  private attempt<A2, E2, R>(
    self: Effect.Effect<A2, E2, R>,
    settings: Settings,
    attempt: number,
    scheduleState: unknown
  ): Effect.Effect<A2, E2 | MaxRetriesExceededError, R> {
    return Effect.matchCauseEffect(self, {
      onSuccess: (value): Effect.Effect<A2, E2 | MaxRetriesExceededError, R> => {
        if (settings.retryOnResult !== undefined && settings.retryOnResult(value)) {
          return this.onUnwantedValue(self, settings, attempt, scheduleState, value)
        }
        if (attempt === 1) this.successfulWithoutRetry++
        else this.successfulWithRetry++
        const succeed = Effect.succeed(value)
        return this.hub.subscribers === 0 ? succeed : Effect.zipRight(
          this.publish(Event.Success({ retryName: this.name, at: this.now(), attempts: attempt })),
          succeed
        )
      },
      onFailure: (cause) => this.onFailure(self, settings, attempt, scheduleState, cause)
    })
  }

  private onFailure<A2, E2, R>(
    self: Effect.Effect<A2, E2, R>,
    settings: Settings,
    attempt: number,
    scheduleState: unknown,
    cause: Cause.Cause<E2>
  ): Effect.Effect<A2, E2 | MaxRetriesExceededError, R> {
    const fail = Effect.failCause(cause)
    if (Cause.isInterruptedOnly(cause)) return fail
    const failure = Cause.failureOption(cause)
    if (Option.isNone(failure)) {
      return this.giveUp(attempt, "IgnoredError", Option.getOrUndefined(Cause.dieOption(cause)), fail)
    }
    const error = failure.value
    // Any typed error may say when to come back (`retryAfter`, as every refusal and an HTTP 429 do).
    const minWaitMillis = retryAfterMillis(error)
    if (isLocalRefusal(error) && !settings.retryRejections) return this.giveUp(attempt, "IgnoredError", error, fail)
    if (!Number.isFinite(minWaitMillis)) return this.giveUp(attempt, "IgnoredError", error, fail)
    if (settings.retryOn !== undefined && !settings.retryOn(error)) {
      return this.giveUp(attempt, "IgnoredError", error, fail)
    }
    if (attempt >= settings.maxAttempts) return this.giveUp(attempt, "Error", error, fail)
    return this.retry(self, settings, attempt, scheduleState, error, minWaitMillis, fail)
  }

  /** `retryOnResult` rejected `value`: retry, or end with the value or `MaxRetriesExceededError`. */
  private onUnwantedValue<A2, E2, R>(
    self: Effect.Effect<A2, E2, R>,
    settings: Settings,
    attempt: number,
    scheduleState: unknown,
    value: A2
  ): Effect.Effect<A2, E2 | MaxRetriesExceededError, R> {
    const last: Effect.Effect<A2, MaxRetriesExceededError> = Effect.suspend(() =>
      settings.failAfterMaxAttempts
        ? Effect.fail(new MaxRetriesExceededError({ retryName: this.name, attempts: attempt, lastValue: value }))
        : Effect.succeed(value)
    )
    if (attempt >= settings.maxAttempts) return this.giveUp(attempt, "Error", value, last)
    return this.retry(self, settings, attempt, scheduleState, value, 0, last)
  }

  /** Works out the delay (from the schedule when there is one), then asks the budget. */
  private retry<A2, E2, R>(
    self: Effect.Effect<A2, E2, R>,
    settings: Settings,
    attempt: number,
    scheduleState: unknown,
    input: unknown,
    minWaitMillis: number,
    last: Effect.Effect<A2, E2 | MaxRetriesExceededError>
  ): Effect.Effect<A2, E2 | MaxRetriesExceededError, R> {
    const schedule = settings.schedule
    if (schedule === undefined) {
      return this.retryAfter(
        self,
        settings,
        attempt,
        undefined,
        Math.max(settings.waitMillis, minWaitMillis),
        input,
        last
      )
    }
    const now = this.now()
    const state = attempt === 1 ? schedule.initial : scheduleState
    return Effect.flatMap(Effect.suspend(() => schedule.step(now, input, state)), ([next, , decision]) => {
      if (ScheduleDecision.isDone(decision)) return this.giveUp(attempt, "Error", input, last)
      const delay = Math.max(0, ScheduleIntervals.start(decision.intervals) - now)
      return this.retryAfter(self, settings, attempt, next, Math.max(delay, minWaitMillis), input, last)
    })
  }

  private retryAfter<A2, E2, R>(
    self: Effect.Effect<A2, E2, R>,
    settings: Settings,
    attempt: number,
    scheduleState: unknown,
    waitMillis: number,
    input: unknown,
    last: Effect.Effect<A2, E2 | MaxRetriesExceededError>
  ): Effect.Effect<A2, E2 | MaxRetriesExceededError, R> {
    const budget = settings.budget
    const span = currentSpan()
    if (budget !== undefined && !budget.unsafeTryWithdraw()) {
      this.refusedByBudget++
      if (span !== undefined) this.trace(span, "breakwater.retry.budget_exhausted", attempt, waitMillis, budget.name)
      const event = !this.hub.listening ? undefined : Event.BudgetExhausted({
        retryName: this.name,
        at: this.now(),
        attempts: attempt,
        budgetName: budget.name,
        error: input
      })
      return this.end(attempt, event, last)
    }
    const next = this.attempt(self, settings, attempt + 1, scheduleState)
    const wait = waitMillis > 0 ? Effect.zipRight(this.clock.sleep(Duration.millis(waitMillis)), next) : next
    if (span !== undefined) {
      span.attribute("breakwater.retry.attempt", attempt + 1)
      this.trace(span, "breakwater.retry.retry", attempt + 1, waitMillis, undefined)
    }
    return !this.hub.listening ? wait : Effect.zipRight(
      this.publish(Event.Retry({
        retryName: this.name,
        at: this.now(),
        attempt: attempt + 1,
        wait: Duration.millis(waitMillis),
        error: input
      })),
      wait
    )
  }

  /** Ends a call that failed (or kept returning unwanted values) after `attempts` attempts. */
  private giveUp<A2, E2>(
    attempts: number,
    kind: "Error" | "IgnoredError",
    error: unknown,
    last: Effect.Effect<A2, E2>
  ): Effect.Effect<A2, E2> {
    const event = this.hub.subscribers === 0 ? undefined : Event[kind]({
      retryName: this.name,
      at: this.now(),
      attempts,
      error
    })
    return this.end(attempts, event, last)
  }

  private end<A2, E2>(attempts: number, event: Event | undefined, last: Effect.Effect<A2, E2>): Effect.Effect<A2, E2> {
    if (attempts === 1) this.failedWithoutRetry++
    else this.failedWithRetry++
    return event === undefined ? last : Effect.zipRight(this.publish(event), last)
  }

  private now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }

  private trace(span: Tracer.Span, name: string, attempt: number, waitMillis: number, budget: string | undefined) {
    spanEvent(span, this.now(), name, {
      "breakwater.retry.name": this.name,
      "breakwater.retry.attempt": attempt,
      "breakwater.retry.wait_ms": waitMillis,
      ...(budget === undefined ? {} : { "breakwater.retry.budget": budget })
    })
  }

  private publish(event: Event): Effect.Effect<void> {
    return this.hub.publish(event)
  }

  // ---- reading and steering ----------------------------------------------------------------------

  readonly metrics: Effect.Effect<Metrics> = Effect.sync(() => ({
    numberOfSuccessfulCallsWithoutRetryAttempt: this.successfulWithoutRetry,
    numberOfSuccessfulCallsWithRetryAttempt: this.successfulWithRetry,
    numberOfFailedCallsWithoutRetryAttempt: this.failedWithoutRetry,
    numberOfFailedCallsWithRetryAttempt: this.failedWithRetry,
    numberOfRetriesRefusedByBudget: this.refusedByBudget
  }))

  get events(): Stream.Stream<Event> {
    return this.hub.stream
  }

  get subscribe(): Effect.Effect<Stream.Stream<Event>, never, Scope.Scope> {
    return this.hub.subscribed
  }

  reconfigure(changes: Reconfiguration<E, A>): Effect.Effect<void, InvalidConfigError> {
    return Effect.suspend(() => {
      const merged: Record<string, unknown> = { ...this.options, ...changes }
      // A new delay setting replaces the old one rather than clashing with it.
      if (changes.schedule !== undefined && !("waitDuration" in changes)) delete merged.waitDuration
      if (changes.waitDuration !== undefined && !("schedule" in changes)) delete merged.schedule
      for (const key of Object.keys(merged)) if (merged[key] === undefined) delete merged[key]
      const options = merged as unknown as Options<E, A>
      return Effect.flatMap(decode(options), (settings) => {
        if (raises(settings) && !this.mayRaise) {
          return Effect.fail(invalidConfig("Retry", this.name, [{
            field: "failAfterMaxAttempts",
            value: true,
            rule: "cannot be turned on (with retryOnResult) for a retry made without it: its type says it never " +
              "fails with MaxRetriesExceededError; make it with failAfterMaxAttempts: true and retryOnResult"
          }]))
        }
        this.options = options
        this.settings = settings
        return Effect.void
      })
    })
  }
}

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
    const clock = yield* Effect.clock
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
  readonly schedule: Schedule.Schedule<unknown, unknown> | undefined
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
 * @since 0.1.0
 */
export const layer: {
  <I, E, A>(
    tag: Context.Tag<I, Retry<E, A, never>>,
    options:
      & Options<E, A>
      & ({ readonly failAfterMaxAttempts?: false | undefined } | { readonly retryOnResult?: undefined })
  ): Layer.Layer<I, InvalidConfigError>
  <I, E, A>(tag: Context.Tag<I, Retry<E, A>>, options: Options<E, A>): Layer.Layer<I, InvalidConfigError>
} = <I>(
  // The overloads above tie the tag's error parameter to what the options can raise.
  tag: Context.Tag<I, any>,
  options: Options<any, any>
): Layer.Layer<I, InvalidConfigError> => Layer.scoped(tag, make(options))

/**
 * The plain options (`maxAttempts`, `waitDuration`, `failAfterMaxAttempts`, `retryRejections`) read
 * through `effect/Config` under the namespace `name`. Absent keys take the defaults; values are
 * checked by the same Schema as {@link make}'s.
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { Retry } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({ payments: { maxAttempts: 5, waitDuration: "1 second" } })
 * const options = Effect.withConfigProvider(Retry.config("payments"), provider)
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
 * @since 0.1.0
 */
export const layerConfig = <I, E = unknown, A = unknown>(
  tag: Context.Tag<I, Retry<E, A>>,
  options: Config.Config<Options>,
  code?: Omit<Options<E, A>, "name">
): Layer.Layer<I, InvalidConfigError | ConfigError.ConfigError> =>
  Layer.scoped(
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
