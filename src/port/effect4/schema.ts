/**
 * The Schema combinators whose form differs between Effect 3 and 4, in Effect 4's form (see
 * `../effect3/schema.ts`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/** Any schema: Effect 4's `Schema.Top` (Effect 3: `Schema.Schema.Any`). */
export type AnySchema = Schema.Top

/** A broken rule reported against a field: `path` names it, `message` says what is wrong. */
export interface PathIssue {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

/**
 * What a rule returns: `true` (kept), a message about the value itself, or issues naming other fields
 * (a rule between fields reports against the field that has to change; an empty array keeps the value).
 */
export type Verdict = boolean | string | PathIssue | ReadonlyArray<PathIssue>

const toFilterOutput = (verdict: Verdict): Schema.FilterOutput =>
  typeof verdict === "boolean" || typeof verdict === "string"
    ? verdict
    : Array.isArray(verdict)
    ? (verdict as ReadonlyArray<PathIssue>).map(({ message, path }) => ({ path, issue: message }))
    : { path: (verdict as PathIssue).path, issue: (verdict as PathIssue).message }

/** Keeps values for which `predicate` is `true`: Effect 4's `check(makeFilter)` (Effect 3: `Schema.filter`). */
export const refine =
  <S extends AnySchema>(predicate: (value: NoInfer<S["Type"]>) => Verdict) => (self: S): S["Rebuild"] =>
    self.check(Schema.makeFilter<S["Type"]>((value) => toFilterOutput(predicate(value))))

/** An optional field that decodes to `value()` when absent or `undefined`: `Schema.withDecodingDefault`. */
export const withDefault = <S extends AnySchema>(schema: S, value: () => NoInfer<S["Encoded"]>) =>
  Schema.withDecodingDefault<S>(Effect.sync(value))(schema)

/** A schema of the values `is` accepts, refusing others with `message`: `Schema.declare` with a message. */
export const declare = <A>(is: (u: unknown) => u is A, message: string) => Schema.declare(is, { message })

/** One of the literal `values`: Effect 4's `Schema.Literals(values)` (Effect 3: `Schema.Literal(...values)`). */
export const literals = <const L extends ReadonlyArray<string>>(...values: L) => Schema.Literals(values)

/** Any one of `members`: Effect 4's `Schema.Union(members)` (Effect 3: `Schema.Union(...members)`). */
export const union = <const Members extends ReadonlyArray<AnySchema>>(...members: Members) => Schema.Union(members)

/** `schema` read from JSON text: Effect 4's `Schema.fromJsonString` (Effect 3: `Schema.parseJson`). */
export const parseJson = <S extends AnySchema>(schema: S) => Schema.fromJsonString(schema)
