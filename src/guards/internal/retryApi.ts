/**
 * The retry's vocabulary: its options, reconfiguration, metrics, refusal, events and service interface.
 * Below both the retry itself (`retryImpl.ts`) and the public `Retry` module, which re-exports it.
 *
 * @internal
 */
import type { DurationInput, UserSchedule } from "#port"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import type { RetryBudget } from "../RetryBudget.js"

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
 *   schedule: Schedule.exponential("50 millis").pipe(Schedule.jittered),
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
  readonly waitDuration?: DurationInput
  /**
   * The delays between attempts, from any `Schedule` (exponential, jittered, capped), stepped once per
   * retry; when it ends, retrying ends. It gives only the delays: what is retried is for `retryOn`
   * and `retryOnResult` to say, so its input type is `unknown`.
   */
  readonly schedule?: UserSchedule<unknown>
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
 * A running retry. Obtain one with `Retry.make` or `Retry.layer`; guard calls with `Retry.withRetry`
 * or `Retry.policy`.
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
  /** See `Retry.reconfigure`. */
  reconfigure(changes: Reconfiguration<E, A>): Effect.Effect<void, InvalidConfigError>
  /** @internal phantom: the retry only guards effects its predicates understand. */
  readonly _predicates?: (error: E, value: A) => void
  /** @internal phantom: `MaxRetriesExceededError` when the options can raise it, else `never`. */
  readonly _raises?: () => X
}
