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
} from "../../port/effect3/validation.js"

const fallback = <S extends Schema.Schema.Any>(schema: S, value: () => Schema.Schema.Type<S>) =>
  Schema.optionalWith(schema, { default: value })

// ---- RetryBudget ---------------------------------------------------------------------------------

// Written once for both Effect targets (see retryBudgetOptions.ts); re-exported for the HTTP config fields.
export { budgetConfigFields, BudgetOptionsSchema } from "./retryBudgetOptions.js"

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
