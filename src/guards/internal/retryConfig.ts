/**
 * The options of `Retry` and `RetryBudget` as Schemas (Resilience4j's and Finagle's names, defaults
 * and rules) and the `effect/Config` readers that feed them. Written once for both Effect targets (the
 * combinators whose form differs come from `#port`).
 *
 * @internal
 */
import {
  booleanConfig,
  declare,
  durationConfig,
  type DurationInput,
  DurationInputSchema,
  Name,
  numberConfig,
  Predicate,
  refine,
  type UserSchedule,
  WholeNumber,
  withDefault
} from "#port"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { RetryBudgetTypeId } from "../../core/retryBudgetCore.js"

// ---- RetryBudget ---------------------------------------------------------------------------------

// Written once for both Effect targets (see retryBudgetOptions.ts); re-exported for the HTTP config fields.
export { budgetConfigFields, BudgetOptionsSchema } from "./retryBudgetOptions.js"

// ---- Retry ---------------------------------------------------------------------------------------

const AnySchedule = declare(
  (u: unknown): u is UserSchedule<unknown> => Schedule.isSchedule(u),
  "expected a Schedule"
)

/** What a budget option holds: a `RetryBudget`, recognised by its type id. */
export interface BudgetLike {
  readonly [RetryBudgetTypeId]: typeof RetryBudgetTypeId
}

/** A `RetryBudget` (from `RetryBudget.make`), for the options of Retry and Hedge. */
export const Budget = declare(
  (u: unknown): u is BudgetLike => typeof u === "object" && u !== null && RetryBudgetTypeId in u,
  "expected a RetryBudget (from RetryBudget.make)"
)

/** @internal */
export const RetryOptionsSchema = Schema.Struct({
  name: Name,
  maxAttempts: withDefault(WholeNumber(1), () => 3),
  // No default here: giving both a wait and a schedule is an error, so absence must stay visible.
  waitDuration: Schema.optional(DurationInputSchema(0)),
  schedule: Schema.optional(AnySchedule),
  retryOn: Schema.optional(Predicate),
  retryOnResult: Schema.optional(Predicate),
  failAfterMaxAttempts: withDefault(Schema.Boolean, () => false),
  retryRejections: withDefault(Schema.Boolean, () => false),
  budget: Schema.optional(Budget)
}).pipe(
  refine((options) =>
    options.waitDuration === undefined || options.schedule === undefined ||
    { path: ["schedule"], message: "cannot be combined with waitDuration: give one or the other" }
  )
)

/** The default wait between attempts (Resilience4j's). */
export const DEFAULT_WAIT: DurationInput = "500 millis"

/** The retry's options as `effect/Config` can carry them: no predicates, schedule or budget. */
export const retryConfigFields = {
  maxAttempts: numberConfig,
  waitDuration: durationConfig,
  failAfterMaxAttempts: booleanConfig,
  retryRejections: booleanConfig
} as const
