/**
 * Option decoding in Effect 4's Schema and Config: the same rules and messages as Effect 3's
 * `src/internal/validation.ts`, turning Schema issues into an `InvalidConfigError` that names each
 * field, its value and the rule it breaks.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import { InvalidConfigError } from "../../errors/InvalidConfigError.js"

const valueAt = (input: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let current = input
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined
    current = (current as Record<PropertyKey, unknown>)[key]
  }
  return current
}

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * Effect 4's default messages in the words Effect 3's port uses, so that both packages name a broken
 * rule alike. An optional field's type is a union with `undefined`; that branch is noise here.
 */
const ruleOf = (message: string): string =>
  message === "Expected no excess property"
    ? "is not a known option"
    : message === "Missing key"
    ? "is missing"
    : message.replace(/ \| undefined$/, "")

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
  const issues = formatIssues(result.failure.issue).issues.map((issue) => {
    const path = (issue.path ?? []).map(pathKey)
    return {
      field: path.map(String).join(".") || "(options)",
      value: valueAt(input, path),
      rule: ruleOf(issue.message)
    }
  })
  return Effect.fail(
    new InvalidConfigError({ guard, guardName: typeof name === "string" ? name : "<unnamed>", issues })
  )
}

const negative = /^\s*-/

const durationExpected =
  "expected a non-negative duration (a Duration, milliseconds, or a string such as \"5 seconds\")"

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

/**
 * A `Duration.Input` of at least `min`. Negative inputs are refused rather than clamped to zero.
 */
export const DurationInputSchema = (min: Duration.Input = 0) => {
  const minimum = Duration.fromInputUnsafe(min)
  return Schema.declare(isDurationInput, { message: durationExpected }).check(
    Schema.makeFilter((u: Duration.Input) =>
      Duration.isGreaterThanOrEqualTo(Duration.fromInputUnsafe(u), minimum) ||
      `must be at least ${Duration.format(minimum)}`
    )
  )
}

/** A non-empty name. */
export const Name = Schema.String.check(Schema.makeFilter((s: string) => s.length > 0 || "must not be empty"))

const numeric = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/

/** A number, or the raw text when it is not one (the Schema then reports it with its field name). */
export const numberConfig = (name: string): Config.Config<unknown> =>
  Config.map(Config.String(name), (text) => numeric.test(text) ? Number(text) : text)

/** A duration: milliseconds (JSON `3000`, environment `"3000"`) as a number, anything else as text. */
export const durationConfig = numberConfig

/** Reads whichever of `fields` are present, under the current namespace, into a plain record. */
export const readFields = <K extends string>(
  fields: Record<K, (name: string) => Config.Config<unknown>>
): Config.Config<Partial<Record<K, unknown>>> => {
  const optional: Record<string, Config.Config<Option.Option<unknown>>> = {}
  for (const [key, read] of Object.entries<(name: string) => Config.Config<unknown>>(fields)) {
    optional[key] = Config.option(read(key))
  }
  return Config.map(Config.all(optional), (values) => {
    const present: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(values)) {
      if (Option.isSome(value)) present[key] = value.value
    }
    return present as Partial<Record<K, unknown>>
  })
}
