/**
 * The circuit breaker's options as a Schema (Resilience4j's names, defaults and validation rules) and
 * the `effect/Config` reader that feeds it.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import {
  booleanConfig,
  durationConfig,
  DurationInput,
  DurationOrSchedule,
  FiniteDuration,
  Name,
  numberConfig,
  OneOf,
  Percentage,
  Predicate,
  WholeNumber
} from "../../shared/internal/validation.js"

/** Bounds what one breaker may allocate for its window, so a typo cannot exhaust memory. */
export const MAX_WINDOW_SIZE = 1_000_000

const WindowSize = WholeNumber(1).pipe(
  Schema.filter((n) => n <= MAX_WINDOW_SIZE || `must be at most ${MAX_WINDOW_SIZE}`)
)

const fallback = <S extends Schema.Schema.Any>(schema: S, value: () => Schema.Schema.Type<S>) =>
  Schema.optionalWith(schema, { default: value })

/** @internal */
export const OptionsSchema = Schema.Struct({
  name: Name,
  failureRateThreshold: fallback(Percentage, () => 50),
  slowCallRateThreshold: fallback(Percentage, () => 100),
  slowCallDurationThreshold: fallback(DurationInput(Duration.nanos(1n)), (): Duration.DurationInput => "60 seconds"),
  slidingWindowType: fallback(OneOf("COUNT_BASED", "TIME_BASED"), () => "COUNT_BASED" as const),
  slidingWindowSize: fallback(WindowSize, () => 100),
  minimumNumberOfCalls: fallback(WholeNumber(1), () => 100),
  permittedNumberOfCallsInHalfOpenState: fallback(WindowSize, () => 10),
  maxWaitDurationInHalfOpenState: fallback(DurationInput(0), () => 0),
  transitionToStateAfterWaitDuration: fallback(OneOf("Open", "Closed"), () => "Open" as const),
  waitDurationInOpenState: fallback(
    DurationOrSchedule<Schedule.Schedule<unknown, number>>(Duration.millis(1)),
    (): Duration.DurationInput => "60 seconds"
  ),
  automaticTransitionFromOpenToHalfOpenEnabled: fallback(Schema.Boolean, () => false),
  backoffReset: fallback(OneOf("on-close", "after-closed-as-long-as-open"), () => "on-close" as const),
  retryAfter: Schema.optional(Predicate),
  maxRetryAfter: fallback(FiniteDuration(0), (): Duration.DurationInput => "1 hour"),
  onStoreFailure: Schema.optional(OneOf("fail-open", "fail-closed", "local-fallback")),
  recordError: Schema.optional(Predicate),
  ignoreError: Schema.optional(Predicate),
  recordResult: Schema.optional(Predicate)
})

/** The options once decoded: every default filled in. */
export type ResolvedOptions = typeof OptionsSchema.Type

/** The options as `effect/Config` can carry them: every plain value, none of the functions. */
export const configFields = {
  failureRateThreshold: numberConfig,
  slowCallRateThreshold: numberConfig,
  slowCallDurationThreshold: durationConfig,
  slidingWindowType: Config.string,
  slidingWindowSize: numberConfig,
  minimumNumberOfCalls: numberConfig,
  permittedNumberOfCallsInHalfOpenState: numberConfig,
  maxWaitDurationInHalfOpenState: durationConfig,
  transitionToStateAfterWaitDuration: Config.string,
  waitDurationInOpenState: durationConfig,
  automaticTransitionFromOpenToHalfOpenEnabled: booleanConfig,
  backoffReset: Config.string,
  maxRetryAfter: durationConfig
} as const
