/**
 * The options of the adaptive guards (AdaptiveLimiter, AdaptiveThrottler, Hedge) as Schemas, with
 * their defaults and rules, and the `effect/Config` readers that feed them. Written once for both
 * Effect targets (the combinators whose form differs come from `#port`).
 *
 * @internal
 */
import {
  type AnySchema,
  durationConfig,
  type DurationInput,
  DurationInputSchema,
  FiniteDuration,
  Name,
  numberConfig,
  OneOf,
  Predicate,
  refine,
  WholeNumber,
  withDefault
} from "#port"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import { Budget } from "./retryConfig.js"

const between = (min: number, max: number, rule: string) =>
  Schema.Number.pipe(refine((n: number) => (n >= min && n <= max) || rule))

const atLeast = (min: number) =>
  Schema.Number.pipe(refine((n: number) => (Number.isFinite(n) && n >= min) || `must be a finite number >= ${min}`))

const optionalFields = <F extends Record<string, AnySchema>>(fields: F) =>
  Object.fromEntries(Object.entries(fields).map(([key, schema]) => [key, Schema.optional(schema)])) as {
    [K in keyof F]: Schema.optional<F[K]>
  }

// ---- AdaptiveLimiter -----------------------------------------------------------------------------

const limiterFields = {
  algorithm: OneOf("gradient", "aimd"),
  initialLimit: WholeNumber(1),
  minLimit: WholeNumber(1),
  maxLimit: WholeNumber(1),
  backoffRatio: between(0.5, 0.99, "must be a ratio in [0.5, 0.99]"),
  timeout: DurationInputSchema(Duration.millis(1)),
  smoothing: between(0.01, 1, "must be a fraction in [0.01, 1]"),
  tolerance: atLeast(1),
  queueSize: atLeast(0),
  baselineWindows: WholeNumber(1),
  windowDuration: FiniteDuration(Duration.millis(1)),
  minWindowSamples: WholeNumber(1),
  maxWaitDuration: DurationInputSchema(0),
  isDrop: Predicate
}

const limitsInOrder = (
  o: { readonly minLimit: number; readonly maxLimit: number; readonly initialLimit?: number | undefined }
) => {
  if (o.minLimit > o.maxLimit) return { path: ["maxLimit"], message: "must be at least minLimit" }
  if (o.initialLimit === undefined) return true
  if (o.initialLimit < o.minLimit) return { path: ["initialLimit"], message: "must be at least minLimit" }
  if (o.initialLimit > o.maxLimit) return { path: ["initialLimit"], message: "must be at most maxLimit" }
  return true
}

/** @internal */
export const LimiterOptionsSchema = Schema.Struct({
  name: Name,
  algorithm: withDefault(limiterFields.algorithm, () => "gradient" as const),
  // No default here: absent, it is Netflix's 20 brought within [minLimit, maxLimit].
  initialLimit: Schema.optional(limiterFields.initialLimit),
  minLimit: withDefault(limiterFields.minLimit, () => 1),
  maxLimit: withDefault(limiterFields.maxLimit, () => 200),
  backoffRatio: withDefault(limiterFields.backoffRatio, () => 0.9),
  timeout: withDefault(limiterFields.timeout, (): DurationInput => "5 seconds"),
  smoothing: withDefault(limiterFields.smoothing, () => 0.2),
  tolerance: withDefault(limiterFields.tolerance, () => 1),
  queueSize: withDefault(limiterFields.queueSize, () => 4),
  baselineWindows: withDefault(limiterFields.baselineWindows, () => 600),
  windowDuration: withDefault(limiterFields.windowDuration, (): DurationInput => "1 second"),
  minWindowSamples: withDefault(limiterFields.minWindowSamples, () => 10),
  maxWaitDuration: withDefault(limiterFields.maxWaitDuration, (): DurationInput => 0),
  isDrop: Schema.optional(limiterFields.isDrop)
}).pipe(refine(limitsInOrder))

/** The limit a limiter starts from: `initialLimit`, or 20 within the bounds. */
export const initialLimitOf = (
  o: { readonly minLimit: number; readonly maxLimit: number; readonly initialLimit?: number | undefined }
) => o.initialLimit ?? Math.min(o.maxLimit, Math.max(o.minLimit, 20))

/** What `reconfigure` accepts: any of the settings, no defaults (absent = unchanged). */
export const LimiterChangesSchema = Schema.Struct({ name: Name, ...optionalFields(limiterFields) })

/** The limiter's options as `effect/Config` can carry them (no predicate). */
export const limiterConfigFields = {
  algorithm: numberConfig,
  initialLimit: numberConfig,
  minLimit: numberConfig,
  maxLimit: numberConfig,
  backoffRatio: numberConfig,
  timeout: durationConfig,
  smoothing: numberConfig,
  tolerance: numberConfig,
  queueSize: numberConfig,
  baselineWindows: numberConfig,
  windowDuration: durationConfig,
  minWindowSamples: numberConfig,
  maxWaitDuration: durationConfig
} as const

// ---- AdaptiveThrottler ---------------------------------------------------------------------------

const throttlerFields = {
  k: atLeast(1),
  window: FiniteDuration(Duration.seconds(1)),
  isRejection: Predicate
}

/** @internal */
export const ThrottlerOptionsSchema = Schema.Struct({
  name: Name,
  k: withDefault(throttlerFields.k, () => 2),
  window: withDefault(throttlerFields.window, (): DurationInput => "2 minutes"),
  isRejection: Schema.optional(throttlerFields.isRejection)
})

/** What `reconfigure` accepts. */
export const ThrottlerChangesSchema = Schema.Struct({ name: Name, ...optionalFields(throttlerFields) })

/** The throttler's options as `effect/Config` can carry them. */
export const throttlerConfigFields = { k: numberConfig, window: durationConfig } as const

// ---- Hedge ---------------------------------------------------------------------------------------

const hedgeFields = {
  delay: FiniteDuration(0),
  percentile: Schema.Number.pipe(refine((n: number) => (n > 0 && n < 100) || "must be a percentile in (0, 100)")),
  maxHedgedAttempts: WholeNumber(0),
  // Held as a typed array: bounded so a configuration typo cannot allocate gigabytes.
  sampleSize: WholeNumber(1).pipe(refine((n: number) => n <= 100_000 || "must be at most 100000")),
  minSamples: WholeNumber(1),
  budget: Budget
}

/** @internal */
export const HedgeOptionsSchema = Schema.Struct({
  name: Name,
  delay: withDefault(hedgeFields.delay, (): DurationInput => "100 millis"),
  percentile: Schema.optional(hedgeFields.percentile),
  maxHedgedAttempts: withDefault(hedgeFields.maxHedgedAttempts, () => 1),
  sampleSize: withDefault(hedgeFields.sampleSize, () => 100),
  minSamples: withDefault(hedgeFields.minSamples, () => 20),
  budget: Schema.optional(hedgeFields.budget)
}).pipe(
  refine((o) => o.minSamples <= o.sampleSize || { path: ["minSamples"], message: "must be at most sampleSize" })
)

/** What `reconfigure` accepts (the budget is fixed at creation). */
export const HedgeChangesSchema = Schema.Struct({
  name: Name,
  ...optionalFields({
    delay: hedgeFields.delay,
    percentile: hedgeFields.percentile,
    maxHedgedAttempts: hedgeFields.maxHedgedAttempts,
    minSamples: hedgeFields.minSamples
  }),
  // Present so the Registry can hand its options back on reload; a different budget is refused
  // (by `reconfigure`, which knows the current one).
  sampleSize: Schema.optional(hedgeFields.sampleSize),
  budget: Schema.optional(hedgeFields.budget)
})

/** The hedge's options as `effect/Config` can carry them (no budget). */
export const hedgeConfigFields = {
  delay: durationConfig,
  percentile: numberConfig,
  maxHedgedAttempts: numberConfig,
  sampleSize: numberConfig,
  minSamples: numberConfig
} as const
