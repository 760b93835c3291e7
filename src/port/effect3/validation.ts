/**
 * Option decoding shared by every guard: Schema does the checking, this turns its issues into an
 * `InvalidConfigError` that names each field, its value and the rule it breaks.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import {
  booleanFromText,
  durationExpected,
  functionExpected,
  nameRule,
  negative,
  numberFromText,
  oneOfMessage,
  percentageRule,
  valueAt,
  wholeNumberRule
} from "../optionRules.js"

export { restoreDefaults } from "../optionRules.js"
export { readFields } from "../readFields.js"

/** Decodes `input` with `schema`, reporting every issue at once. */
export const decodeOptions = <A, I>(
  schema: Schema.Schema<A, I>,
  guard: string,
  input: unknown
): Effect.Effect<A, InvalidConfigError> => {
  const result = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "error" })(input)
  if (Either.isRight(result)) return Effect.succeed(result.right)
  const name = valueAt(input, ["name"])
  const issues = ParseResult.ArrayFormatter.formatErrorSync(result.left)
    // An optional field's schema is a union with `undefined`; that branch's complaint is noise.
    .filter((issue) => !issue.message.startsWith("Expected undefined"))
    .map((issue) => ({
      field: issue.path.map(String).join(".") || "(options)",
      value: valueAt(input, issue.path),
      rule: issue.message.startsWith("is unexpected") ? "is not a known option" : issue.message
    }))
  return Effect.fail(invalidConfig(guard, typeof name === "string" ? name : "<unnamed>", issues))
}

/** The error for `guard` (a kind, e.g. `"RateLimiter"`) named `guardName`: the one way to build it. */
export const invalidConfig = (
  guard: string,
  guardName: string,
  issues: InvalidConfigError["issues"]
): InvalidConfigError => new InvalidConfigError({ guard, guardName, issues })

/**
 * A `Duration.DurationInput` (a Duration, milliseconds as a number, or a string such as
 * `"5 seconds"`), at least `min`. Negative inputs are refused rather than clamped to zero, which is
 * what `Duration.decode` would silently do.
 */
export const DurationInput = (min: Duration.DurationInput = 0) =>
  Schema.declare(isDurationInput, { message: () => durationExpected }).pipe(atLeast(min))

/**
 * A duration of at least `min` that must be finite: an infinite window never closes (the limit would
 * never move, the throttler would never forget), an infinite hedge delay never hedges, and an infinite
 * store timeout never times out.
 */
export const FiniteDuration = (min: Duration.DurationInput) =>
  DurationInput(min).pipe(
    Schema.filter((u) => Duration.isFinite(Duration.decode(u as Duration.DurationInput)) || "must be finite")
  )

/** Either a `Schedule` or a `DurationInput` of at least `min`, with one message for both. */
export const DurationOrSchedule = <S extends Schedule.Schedule<any, any, any>>(min: Duration.DurationInput) =>
  Schema.declare(
    (u: unknown): u is Duration.DurationInput | S => Schedule.isSchedule(u) || isDurationInput(u),
    { message: () => `${durationExpected}, or a Schedule` }
  ).pipe(atLeast(min))

const isDurationInput = (u: unknown): u is Duration.DurationInput =>
  !(typeof u === "number" && !(u >= 0)) && !(typeof u === "string" && negative.test(u)) &&
  Option.isSome(Duration.decodeUnknown(u))

const atLeast = (min: Duration.DurationInput) => {
  const minimum = Duration.decode(min)
  return <A>(self: Schema.Schema<A>) =>
    self.pipe(Schema.filter((u) =>
      Schedule.isSchedule(u) ||
      // Compared in milliseconds: Duration's own comparison converts a huge millis value to nanosecond
      // bigints and throws a RangeError (1e302 ms), a defect where the user should get a typed error.
      Duration.toMillis(Duration.decode(u as Duration.DurationInput)) >= Duration.toMillis(minimum) ||
      `must be at least ${Duration.format(minimum)}`
    ))
}

/** A number in (0, 100]. */
export const Percentage = Schema.Number.pipe(Schema.filter(percentageRule))

/** A whole number of at least `min`. */
export const WholeNumber = (min: number) => Schema.Number.pipe(Schema.filter(wholeNumberRule(min)))

/** A function value (a predicate), checked only for being callable. */
export const Predicate = Schema.declare((u: unknown): u is (value: never) => boolean => typeof u === "function", {
  message: () => functionExpected
})

/** One of `values`, with one message naming them all. */
export const OneOf = <const L extends ReadonlyArray<string>>(...values: L) =>
  Schema.declare((u: unknown): u is L[number] => typeof u === "string" && values.includes(u), {
    message: () => oneOfMessage(values)
  })

// Configuration readers that leave judging to the Schema: each reads the raw text and converts it
// only when it has the expected form, so a bad value ("abc" for a number) reaches the Schema and is
// reported as an `InvalidConfigError` naming the field, like every other bad option.

/** A number, or the raw text when it is not one. */
export const numberConfig = (name: string): Config.Config<unknown> => Config.map(Config.string(name), numberFromText)

/** A boolean (`true`/`false`, any case), or the raw text when it is not one. */
export const booleanConfig = (name: string): Config.Config<unknown> => Config.map(Config.string(name), booleanFromText)

/** A duration: milliseconds (JSON `3000`, environment `"3000"`) as a number, anything else as text. */
export const durationConfig = numberConfig

/** The raw text: Effect 3's `Config.string` (Effect 4: `Config.String`). */
export const stringConfig = (name: string): Config.Config<string> => Config.string(name)

/** A number, or a `ConfigError` when the text is not one: Effect 3's `Config.number` (4: `Config.Number`). */
export const strictNumberConfig = (name: string): Config.Config<number> => Config.number(name)

/**
 * A boolean, or a `ConfigError` when the text is not one: Effect 3's `Config.boolean` (4: `Config.Boolean`,
 * which also takes "y" and "n").
 */
export const strictBooleanConfig = (name: string): Config.Config<boolean> => Config.boolean(name)

/** A non-empty name. */
export const Name = Schema.String.pipe(Schema.filter(nameRule))
