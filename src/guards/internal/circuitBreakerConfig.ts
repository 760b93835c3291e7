/**
 * The circuit breaker's options as a Schema (Resilience4j's names, defaults and validation rules) and
 * the `effect/Config` reader that feeds it. Written once for both Effect targets (the combinators
 * whose form differs come from `#port`).
 *
 * @internal
 */
import {
  booleanConfig,
  durationConfig,
  type DurationInput,
  DurationInputSchema,
  DurationOrSchedule,
  FiniteDuration,
  Name,
  numberConfig,
  OneOf,
  Percentage,
  Predicate,
  refine,
  stringConfig,
  type UserSchedule,
  WholeNumber,
  withDefault
} from "#port"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

/** Bounds what one breaker may allocate for its window, so a typo cannot exhaust memory. */
export const MAX_WINDOW_SIZE = 1_000_000

const WindowSize = WholeNumber(1).pipe(
  refine((n: number) => n <= MAX_WINDOW_SIZE || `must be at most ${MAX_WINDOW_SIZE}`)
)

/** @internal */
export const OptionsSchema = Schema.Struct({
  name: Name,
  failureRateThreshold: withDefault(Percentage, () => 50),
  slowCallRateThreshold: withDefault(Percentage, () => 100),
  slowCallDurationThreshold: withDefault(DurationInputSchema(Duration.nanos(1n)), (): DurationInput => "60 seconds"),
  slidingWindowType: withDefault(OneOf("COUNT_BASED", "TIME_BASED"), () => "COUNT_BASED" as const),
  slidingWindowSize: withDefault(WindowSize, () => 100),
  minimumNumberOfCalls: withDefault(WholeNumber(1), () => 100),
  permittedNumberOfCallsInHalfOpenState: withDefault(WindowSize, () => 10),
  maxWaitDurationInHalfOpenState: withDefault(DurationInputSchema(0), () => 0),
  transitionToStateAfterWaitDuration: withDefault(OneOf("Open", "Closed"), () => "Open" as const),
  waitDurationInOpenState: withDefault(
    DurationOrSchedule<UserSchedule<number>>(Duration.millis(1)),
    (): DurationInput => "60 seconds"
  ),
  automaticTransitionFromOpenToHalfOpenEnabled: withDefault(Schema.Boolean, () => false),
  backoffReset: withDefault(OneOf("on-close", "after-closed-as-long-as-open"), () => "on-close" as const),
  retryAfter: Schema.optional(Predicate),
  maxRetryAfter: withDefault(FiniteDuration(0), (): DurationInput => "1 hour"),
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
  slidingWindowType: stringConfig,
  slidingWindowSize: numberConfig,
  minimumNumberOfCalls: numberConfig,
  permittedNumberOfCallsInHalfOpenState: numberConfig,
  maxWaitDurationInHalfOpenState: durationConfig,
  transitionToStateAfterWaitDuration: stringConfig,
  waitDurationInOpenState: durationConfig,
  automaticTransitionFromOpenToHalfOpenEnabled: booleanConfig,
  backoffReset: stringConfig,
  maxRetryAfter: durationConfig
} as const
