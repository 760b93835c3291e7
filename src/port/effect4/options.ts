/**
 * Option decoding in Effect 4's Schema and Config: the same rules and messages as Effect 3's
 * `../effect3/validation.ts`, turning Schema issues into an `InvalidConfigError` that names each
 * field, its value and the rule it breaks. The Effect-free rules and words are shared with it
 * (`../optionRules.ts`); what is here is only what Effect 4 spells differently.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Formatter from "effect/Formatter"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
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

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * Effect 4's default messages in the words Effect 3's port uses, so that both packages name a broken
 * rule alike. An optional field's type is a union with `undefined`; that branch is noise here. Effect 4
 * leaves the value out of a type mismatch ("Expected number"); Effect 3 prints it (", actual \"3\"").
 */
const ruleOf = (message: string, value: unknown): string => {
  if (message === "Expected no excess property") return "is not a known option"
  if (message === "Missing key") return "is missing"
  const rule = message.replace(/ \| undefined$/, "")
  return rule.startsWith("Expected ") && !rule.includes(", actual ")
    ? `${rule}, actual ${Formatter.format(value)}`
    : rule
}

/**
 * A tagged union that matched no member names the whole object in Effect 4 ("Expected { readonly
 * "_tag": "Failure", ... } | …"); Effect 3 names the tag, which is what the user got wrong. So an
 * object whose `_tag` is not one of the members' is reported at `<path>._tag`, in Effect 3's words.
 */
const taggedMember = /\{ readonly "_tag": ("(?:[^"\\]|\\.)*"), \.\.\. \}/g

const unknownTag = (
  path: ReadonlyArray<PropertyKey>,
  value: unknown,
  message: string
): { readonly path: ReadonlyArray<PropertyKey>; readonly message: string } | undefined => {
  if (typeof value !== "object" || value === null || !("_tag" in value)) return undefined
  const tags = [...message.matchAll(taggedMember)].map((match) => match[1])
  if (tags.length === 0 || message.replace(taggedMember, "").replace(/^Expected |\s*\|\s*/g, "") !== "") {
    return undefined
  }
  return {
    path: [...path, "_tag"],
    message: `Expected ${tags.join(" | ")}, actual ${Formatter.format((value as { readonly _tag: unknown })._tag)}`
  }
}

const pathKey = (segment: PropertyKey | { readonly key: PropertyKey }): PropertyKey =>
  typeof segment === "object" ? segment.key : segment

/** Decodes `input` with `schema`, reporting every issue at once. */
export const decodeOptions = <A, I>(
  schema: Schema.Codec<A, I>,
  guard: string,
  input: unknown
): Effect.Effect<A, InvalidConfigError> => {
  const result = Schema.decodeUnknownResult(schema)(input, { errors: "all", onExcessProperty: "error" })
  if (Result.isSuccess(result)) return Effect.succeed(result.success)
  const name = valueAt(input, ["name"])
  const issues = formatIssues(result.failure.issue).issues.map((formatted) => {
    const at = (formatted.path ?? []).map(pathKey)
    const { message, path } = unknownTag(at, valueAt(input, at), formatted.message) ??
      { message: formatted.message, path: at }
    const value = valueAt(input, path)
    return { field: path.map(String).join(".") || "(options)", value, rule: ruleOf(message, value) }
  })
  return Effect.fail(invalidConfig(guard, typeof name === "string" ? name : "<unnamed>", issues))
}

/** The error for `guard` (a kind, e.g. `"RateLimiter"`) named `guardName`: the one way to build it. */
export const invalidConfig = (
  guard: string,
  guardName: string,
  issues: InvalidConfigError["issues"]
): InvalidConfigError => new InvalidConfigError({ guard, guardName, issues })

const decodeDuration = (u: unknown): Option.Option<Duration.Duration> => {
  try {
    return Duration.fromInput(u as Duration.Input)
  } catch {
    return Option.none()
  }
}

const isDurationInput = (u: unknown): u is Duration.Input =>
  !(typeof u === "number" && !(u >= 0)) && !(typeof u === "string" && negative.test(u)) &&
  Option.isSome(decodeDuration(u))

const atLeast = (min: Duration.Input) => {
  const minimum = Duration.fromInputUnsafe(min)
  return <S extends Schema.Top>(self: S): S["Rebuild"] =>
    self.check(Schema.makeFilter((u: unknown) =>
      Schedule.isSchedule(u) ||
      // Compared in milliseconds, as Effect 3's port does (a huge millis value in nanoseconds overflows).
      Duration.toMillis(Duration.fromInputUnsafe(u as Duration.Input)) >= Duration.toMillis(minimum) ||
      `must be at least ${Duration.format(minimum)}`
    ))
}

/**
 * A `Duration.Input` (a Duration, milliseconds as a number, or a string such as `"5 seconds"`), at
 * least `min`. Negative inputs are refused rather than clamped to zero.
 */
export const DurationInputSchema = (min: Duration.Input = 0) =>
  atLeast(min)(Schema.declare(isDurationInput, { message: durationExpected }))

/** A duration of at least `min` that must be finite (see Effect 3's `FiniteDuration` for why). */
export const FiniteDuration = (min: Duration.Input) =>
  DurationInputSchema(min).check(
    Schema.makeFilter((u: Duration.Input) => Duration.isFinite(Duration.fromInputUnsafe(u)) || "must be finite")
  )

/** Either a `Schedule` or a `Duration.Input` of at least `min`, with one message for both. */
export const DurationOrSchedule = <S extends Schedule.Schedule<any, any, any>>(min: Duration.Input) =>
  atLeast(min)(
    Schema.declare((u: unknown): u is Duration.Input | S => Schedule.isSchedule(u) || isDurationInput(u), {
      message: `${durationExpected}, or a Schedule`
    })
  )

/** A number in (0, 100]. */
export const Percentage = Schema.Number.check(Schema.makeFilter(percentageRule))

/** A whole number of at least `min`. */
export const WholeNumber = (min: number) => Schema.Number.check(Schema.makeFilter(wholeNumberRule(min)))

/** A function value (a predicate), checked only for being callable. */
export const Predicate = Schema.declare((u: unknown): u is (value: never) => boolean => typeof u === "function", {
  message: functionExpected
})

/** One of `values`, with one message naming them all. */
export const OneOf = <const L extends ReadonlyArray<string>>(...values: L) =>
  Schema.declare((u: unknown): u is L[number] => typeof u === "string" && values.includes(u), {
    message: oneOfMessage(values)
  })

/** A non-empty name. */
export const Name = Schema.String.check(Schema.makeFilter(nameRule))

// Configuration readers that leave judging to the Schema (see Effect 3's port): `Config.String`, then
// the same conversions.

/** A number, or the raw text when it is not one (the Schema then reports it with its field name). */
export const numberConfig = (name: string): Config.Config<unknown> => Config.map(Config.String(name), numberFromText)

/** A boolean (`true`/`false`, any case), or the raw text when it is not one. */
export const booleanConfig = (name: string): Config.Config<unknown> => Config.map(Config.String(name), booleanFromText)

/** A duration: milliseconds (JSON `3000`, environment `"3000"`) as a number, anything else as text. */
export const durationConfig = numberConfig

/** The raw text: Effect 4's `Config.String` (Effect 3: `Config.string`). */
export const stringConfig = (name: string): Config.Config<string> => Config.String(name)

/** A number, or a `ConfigError` when the text is not one: Effect 4's `Config.Number` (3: `Config.number`). */
export const strictNumberConfig = (name: string): Config.Config<number> => Config.Number(name)

/**
 * A boolean, or a `ConfigError` when the text is not one: Effect 4's `Config.Boolean` (3: `Config.boolean`,
 * which does not take "y" and "n").
 */
export const strictBooleanConfig = (name: string): Config.Config<boolean> => Config.Boolean(name)
