/**
 * The retry itself: each attempt's outcome classified by the options' predicates, delays from the
 * options' `Schedule` (on `Clock`, so `TestClock` drives them), an optional budget that bounds retries
 * across calls, and in-place reconfiguration.
 *
 * @internal
 */
import {
  decodeOptions,
  defectOf,
  failureOf,
  isInterruptOnly,
  makeStepper,
  nowMillis,
  type Stepper,
  type UserSchedule
} from "#port"
import type * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import { isLocalRefusal } from "../../core/refusals.js"
import type { BudgetHandle } from "../../core/retryBudgetCore.js"
import { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import { retryAfterField } from "../../shared/internal/errors.js"
import { type EventHub } from "../../shared/internal/eventHub.js"
import { currentSpan, spanEvent } from "../../shared/internal/observe.js"
import {
  Event,
  MaxRetriesExceededError,
  type Metrics,
  type Options,
  type Reconfiguration,
  type Retry
} from "./retryApi.js"
import { DEFAULT_WAIT, RetryOptionsSchema } from "./retryConfig.js"

/** An error's `retryAfter` hint in millis (0 when absent). */
const retryAfterMillis = (error: unknown): number =>
  Option.match(retryAfterField(error), { onNone: () => 0, onSome: (d) => Math.max(0, Duration.toMillis(d)) })

/** The decoded options, in the shape the loop reads. */
export interface Settings {
  readonly maxAttempts: number
  readonly waitMillis: number
  readonly schedule: UserSchedule<unknown> | undefined
  readonly retryOn: ((error: unknown) => boolean) | undefined
  readonly retryOnResult: ((value: unknown) => boolean) | undefined
  readonly failAfterMaxAttempts: boolean
  readonly retryRejections: boolean
  readonly budget: BudgetHandle | undefined
}

export const decode = <E, A>(options: Options<E, A>): Effect.Effect<Settings, InvalidConfigError> =>
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
export const raises = (settings: Settings): boolean =>
  settings.failAfterMaxAttempts && settings.retryOnResult !== undefined

export class RetryImpl<E, A> implements Retry<E, A> {
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
    stepper: Stepper<unknown> | undefined
  ): Effect.Effect<A2, E2 | MaxRetriesExceededError, R> {
    return Effect.matchCauseEffect(self, {
      onSuccess: (value): Effect.Effect<A2, E2 | MaxRetriesExceededError, R> => {
        if (settings.retryOnResult !== undefined && settings.retryOnResult(value)) {
          return this.onUnwantedValue(self, settings, attempt, stepper, value)
        }
        if (attempt === 1) this.successfulWithoutRetry++
        else this.successfulWithRetry++
        const succeed = Effect.succeed(value)
        return this.hub.subscribers === 0 ? succeed : Effect.andThen(
          this.publish(Event.Success({ retryName: this.name, at: this.now(), attempts: attempt })),
          succeed
        )
      },
      onFailure: (cause) => this.onFailure(self, settings, attempt, stepper, cause)
    })
  }

  private onFailure<A2, E2, R>(
    self: Effect.Effect<A2, E2, R>,
    settings: Settings,
    attempt: number,
    stepper: Stepper<unknown> | undefined,
    cause: Cause.Cause<E2>
  ): Effect.Effect<A2, E2 | MaxRetriesExceededError, R> {
    const fail = Effect.failCause(cause)
    if (isInterruptOnly(cause)) return fail
    const failure = failureOf(cause)
    if (Option.isNone(failure)) {
      return this.giveUp(attempt, "IgnoredError", Option.getOrUndefined(defectOf(cause)), fail)
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
    return this.retry(self, settings, attempt, stepper, error, minWaitMillis, fail)
  }

  /** `retryOnResult` rejected `value`: retry, or end with the value or `MaxRetriesExceededError`. */
  private onUnwantedValue<A2, E2, R>(
    self: Effect.Effect<A2, E2, R>,
    settings: Settings,
    attempt: number,
    stepper: Stepper<unknown> | undefined,
    value: A2
  ): Effect.Effect<A2, E2 | MaxRetriesExceededError, R> {
    const last: Effect.Effect<A2, MaxRetriesExceededError> = Effect.suspend(() =>
      settings.failAfterMaxAttempts
        ? Effect.fail(new MaxRetriesExceededError({ retryName: this.name, attempts: attempt, lastValue: value }))
        : Effect.succeed(value)
    )
    if (attempt >= settings.maxAttempts) return this.giveUp(attempt, "Error", value, last)
    return this.retry(self, settings, attempt, stepper, value, 0, last)
  }

  /** Works out the delay (from the schedule when there is one), then asks the budget. */
  private retry<A2, E2, R>(
    self: Effect.Effect<A2, E2, R>,
    settings: Settings,
    attempt: number,
    stepper: Stepper<unknown> | undefined,
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
    // Each call steps its own schedule from the start: its first retry makes the stepper.
    const stepping = stepper === undefined ? makeStepper(schedule) : Effect.succeed(stepper)
    return Effect.flatMap(stepping, (step) =>
      Effect.flatMap(step(now, input), (start) => {
        if (start === Infinity) return this.giveUp(attempt, "Error", input, last)
        const delay = Math.max(0, start - now)
        return this.retryAfter(self, settings, attempt, step, Math.max(delay, minWaitMillis), input, last)
      }))
  }

  private retryAfter<A2, E2, R>(
    self: Effect.Effect<A2, E2, R>,
    settings: Settings,
    attempt: number,
    stepper: Stepper<unknown> | undefined,
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
    const next = this.attempt(self, settings, attempt + 1, stepper)
    const wait = waitMillis > 0 ? Effect.andThen(this.clock.sleep(Duration.millis(waitMillis)), next) : next
    if (span !== undefined) {
      span.attribute("breakwater.retry.attempt", attempt + 1)
      this.trace(span, "breakwater.retry.retry", attempt + 1, waitMillis, undefined)
    }
    return !this.hub.listening ? wait : Effect.andThen(
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
    return event === undefined ? last : Effect.andThen(this.publish(event), last)
  }

  private now(): number {
    return nowMillis(this.clock)
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
          return Effect.fail(
            new InvalidConfigError({
              guard: "Retry",
              guardName: this.name,
              issues: [{
                field: "failAfterMaxAttempts",
                value: true,
                rule: "cannot be turned on (with retryOnResult) for a retry made without it: its type says it " +
                  "never fails with MaxRetriesExceededError; make it with failAfterMaxAttempts: true and retryOnResult"
              }]
            })
          )
        }
        this.options = options
        this.settings = settings
        return Effect.void
      })
    })
  }
}
