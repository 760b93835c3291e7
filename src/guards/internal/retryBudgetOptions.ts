/**
 * `RetryBudget`'s options as a Schema (Finagle's names, defaults and bounds) and the `effect/Config`
 * readers that feed it. Written once for both Effect targets: the combinators whose form differs
 * between Effect 3 and 4 (`refine`, `withDefault`, the duration and name schemas) come from `#port`.
 *
 * @internal
 */
import {
  durationConfig,
  type DurationInput,
  DurationInputSchema,
  Name,
  numberConfig,
  refine,
  toDuration,
  withDefault
} from "#port"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

/** Finagle's bounds on the ttl: long enough to smooth a second's burst, short enough to matter. */
const Ttl = DurationInputSchema(Duration.seconds(1)).pipe(
  refine((d: DurationInput) => Duration.toMillis(toDuration(d)) <= 60_000 || "must be at most 60 seconds")
)

const NonNegative = Schema.Number.pipe(
  refine((n: number) => (Number.isFinite(n) && n >= 0) || "must be a finite number >= 0")
)

const Fraction = Schema.Number.pipe(
  refine((n: number) => (n >= 0 && n <= 1) || "must be a fraction in [0, 1] (0.2 = 20%)")
)

/** @internal */
export const BudgetOptionsSchema = Schema.Struct({
  name: Name,
  ttl: withDefault(Ttl, (): DurationInput => "10 seconds"),
  minRetriesPerSecond: withDefault(NonNegative, () => 10),
  percentCanRetry: withDefault(Fraction, () => 0.2)
})

/** The budget's options as `effect/Config` can carry them. */
export const budgetConfigFields = {
  ttl: durationConfig,
  minRetriesPerSecond: numberConfig,
  percentCanRetry: numberConfig
} as const
