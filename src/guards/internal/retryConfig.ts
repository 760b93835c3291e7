/**
 * The options of `Retry` and `RetryBudget` as Schemas (Resilience4j's and Finagle's names, defaults
 * and rules) and the `effect/Config` readers that feed them.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { RetryBudgetTypeId } from "../../core/retryBudgetCore.js"
import {
  booleanConfig,
  durationConfig,
  DurationInput,
  Name,
  numberConfig,
  Predicate,
  WholeNumber
} from "../../shared/internal/validation.js"

const fallback = <S extends Schema.Schema.Any>(schema: S, value: () => Schema.Schema.Type<S>) =>
  Schema.optionalWith(schema, { default: value })

// ---- RetryBudget ---------------------------------------------------------------------------------

/** Finagle's bounds on the ttl: long enough to smooth a second's burst, short enough to matter. */
const Ttl = DurationInput(Duration.seconds(1)).pipe(
  Schema.filter((d) =>
    Duration.lessThanOrEqualTo(Duration.decode(d), Duration.seconds(60)) || "must be at most 60 seconds"
  )
)

const NonNegative = Schema.Number.pipe(
  Schema.filter((n) => (Number.isFinite(n) && n >= 0) || "must be a finite number >= 0")
)

const Fraction = Schema.Number.pipe(
  Schema.filter((n) => (n >= 0 && n <= 1) || "must be a fraction in [0, 1] (0.2 = 20%)")
)

/** @internal */
export const BudgetOptionsSchema = Schema.Struct({
  name: Name,
  ttl: fallback(Ttl, (): Duration.DurationInput => "10 seconds"),
  minRetriesPerSecond: fallback(NonNegative, () => 10),
  percentCanRetry: fallback(Fraction, () => 0.2)
})

/** The budget's options as `effect/Config` can carry them. */
export const budgetConfigFields = {
  ttl: durationConfig,
  minRetriesPerSecond: numberConfig,
  percentCanRetry: numberConfig
} as const

// ---- Retry ---------------------------------------------------------------------------------------

const AnySchedule = Schema.declare(
  (u: unknown): u is Schedule.Schedule<unknown, unknown> => Schedule.isSchedule(u),
  { message: () => "expected a Schedule" }
)

const Budget = Schema.declare(
  (u: unknown): u is { readonly [RetryBudgetTypeId]: typeof RetryBudgetTypeId } =>
    typeof u === "object" && u !== null && RetryBudgetTypeId in u,
  { message: () => "expected a RetryBudget (from RetryBudget.make)" }
)

/** @internal */
export const RetryOptionsSchema = Schema.Struct({
  name: Name,
  maxAttempts: fallback(WholeNumber(1), () => 3),
  // No default here: giving both a wait and a schedule is an error, so absence must stay visible.
  waitDuration: Schema.optional(DurationInput(0)),
  schedule: Schema.optional(AnySchedule),
  retryOn: Schema.optional(Predicate),
  retryOnResult: Schema.optional(Predicate),
  failAfterMaxAttempts: fallback(Schema.Boolean, () => false),
  retryRejections: fallback(Schema.Boolean, () => false),
  budget: Schema.optional(Budget)
}).pipe(
  Schema.filter((options) =>
    options.waitDuration === undefined || options.schedule === undefined ||
    { path: ["schedule"], message: "cannot be combined with waitDuration: give one or the other" }
  )
)

/** The default wait between attempts (Resilience4j's). */
export const DEFAULT_WAIT: Duration.DurationInput = "500 millis"

/** The retry's options as `effect/Config` can carry them: no predicates, schedule or budget. */
export const retryConfigFields = {
  maxAttempts: numberConfig,
  waitDuration: durationConfig,
  failAfterMaxAttempts: booleanConfig,
  retryRejections: booleanConfig
} as const
