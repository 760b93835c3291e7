/**
 * The rate limiter's options as a Schema (Resilience4j's names and defaults, plus the algorithm and
 * the keyed limiter's bounds) and the `effect/Config` reader that feeds it. Written once for both
 * Effect targets (the combinators whose form differs come from `#port`).
 *
 * @internal
 */
import {
  declare,
  durationConfig,
  type DurationInput,
  DurationInputSchema,
  DurationOrSchedule,
  Name,
  numberConfig,
  OneOf,
  type PathIssue,
  refine,
  stringConfig,
  type UserSchedule,
  WholeNumber,
  withDefault
} from "#port"
import * as Duration from "effect/Duration"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"

/** The algorithms a limiter can run. */
const algorithms = ["fixed-window", "token-bucket", "sliding-window"] as const

/** The algorithms a limiter can run (one message for a bad value, not one per literal). */
export const Algorithm = declare(
  (u: unknown): u is typeof algorithms[number] => algorithms.includes(u as typeof algorithms[number]),
  "must be \"fixed-window\", \"token-bucket\" or \"sliding-window\""
)

const fields = {
  name: Name,
  limitForPeriod: withDefault(WholeNumber(1), () => 50),
  limitRefreshPeriod: withDefault(
    DurationOrSchedule<UserSchedule<number>>(Duration.nanos(1n)),
    (): DurationInput => Duration.nanos(500n)
  ),
  timeoutDuration: withDefault(DurationInputSchema(0), (): DurationInput => "5 seconds"),
  algorithm: withDefault(Algorithm, () => "fixed-window" as const),
  capacity: Schema.optional(WholeNumber(1)),
  onStoreFailure: Schema.optional(OneOf("fail-open", "fail-closed", "local-fallback")),
  fallbackLimitForPeriod: Schema.optional(WholeNumber(1))
}

/** Rules between fields, each reported against the field that has to change. */
const consistent = (options: {
  readonly algorithm: typeof Algorithm.Type
  readonly limitRefreshPeriod: unknown
  readonly capacity?: number | undefined
  readonly limitForPeriod: number
  readonly fallbackLimitForPeriod?: number | undefined
}) => {
  const issues: Array<PathIssue> = []
  if (options.fallbackLimitForPeriod !== undefined && options.fallbackLimitForPeriod > options.limitForPeriod) {
    issues.push({ path: ["fallbackLimitForPeriod"], message: "must be at most limitForPeriod (it is a share of it)" })
  }
  if (options.algorithm !== "fixed-window" && Schedule.isSchedule(options.limitRefreshPeriod)) {
    issues.push({ path: ["limitRefreshPeriod"], message: "a Schedule is only supported by the fixed-window algorithm" })
  }
  if (options.algorithm !== "token-bucket" && options.capacity !== undefined) {
    issues.push({ path: ["capacity"], message: "only applies to the token-bucket algorithm" })
  }
  return issues
}

/** @internal */
export const OptionsSchema = Schema.Struct(fields).pipe(refine(consistent))

/**
 * How long a limiter with a fixed period takes to forget its past: the period (fixed or sliding
 * window) or a full refill (token bucket); `undefined` with a `Schedule` (cycles of varying length).
 */
export const forgetMillis = (options: {
  readonly algorithm: typeof Algorithm.Type
  readonly limitRefreshPeriod: unknown
  readonly limitForPeriod: number
  readonly capacity?: number | undefined
}): number | undefined => {
  if (Schedule.isSchedule(options.limitRefreshPeriod)) return undefined
  const period = Duration.toMillis(options.limitRefreshPeriod as DurationInput)
  return options.algorithm === "token-bucket"
    ? period * (options.capacity ?? options.limitForPeriod) / options.limitForPeriod
    : period
}

/**
 * A key dropped sooner than its limiter forgets would come back with a fresh quota: going idle would
 * reset it. So `idleTimeToLive` may not be shorter than that time.
 */
const keepsQuota = (
  options: Parameters<typeof forgetMillis>[0] & {
    readonly idleTimeToLive?: DurationInput | undefined
  }
) => {
  if (options.idleTimeToLive === undefined) return []
  const forget = forgetMillis(options)
  const idle = Duration.toMillis(options.idleTimeToLive)
  return forget !== undefined && idle < forget
    ? [{
      path: ["idleTimeToLive"],
      message: `must be at least ${
        Duration.format(Duration.millis(forget))
      } (the time the limiter takes to forget its grants), or an idle key would get a fresh quota`
    }]
    : []
}

/** @internal */
export const KeyedOptionsSchema = Schema.Struct({
  ...fields,
  maxKeys: withDefault(WholeNumber(1), () => 100_000),
  idleTimeToLive: Schema.optional(DurationInputSchema(0))
}).pipe(refine((options) => [...consistent(options), ...keepsQuota(options)]))

/** The options as `effect/Config` can carry them (a `Schedule` cannot be read from configuration). */
export const configFields = {
  limitForPeriod: numberConfig,
  limitRefreshPeriod: durationConfig,
  timeoutDuration: durationConfig,
  algorithm: stringConfig,
  capacity: numberConfig,
  onStoreFailure: stringConfig,
  fallbackLimitForPeriod: numberConfig
} as const
