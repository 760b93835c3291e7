/**
 * The Schema combinators whose form differs between Effect 3 and Effect 4, in Effect 3's form, so that
 * option schemas are written once (`src/guards/internal/*Config.ts`, `*Options.ts`) for both targets.
 *
 * @internal
 */
import * as Schema from "effect/Schema"

/** Any schema without services: Effect 3's `Schema.Schema.Any` (Effect 4: `Schema.Top`). */
export type AnySchema = Schema.Schema.Any

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

/** Keeps values for which `predicate` is `true`: Effect 3's `Schema.filter` (Effect 4: `check(makeFilter)`). */
export const refine =
  <S extends AnySchema>(predicate: (value: NoInfer<Schema.Schema.Type<S>>) => Verdict) => (self: S): Schema.filter<S> =>
    self.pipe(Schema.filter<S>((value) => predicate(value)))

/** An optional field that decodes to `value()` when absent or `undefined`: Effect 3's `optionalWith({ default })`. */
export const withDefault = <A, I, R>(schema: Schema.Schema<A, I, R>, value: () => NoInfer<A>) =>
  Schema.optionalWith(schema, { default: value })

/** A schema of the values `is` accepts, refusing others with `message`: `Schema.declare` with a message. */
export const declare = <A>(is: (u: unknown) => u is A, message: string) =>
  Schema.declare(is, { message: () => message })

/** One of the literal `values`: Effect 3's `Schema.Literal(...values)` (Effect 4: `Schema.Literals(values)`). */
export const literals = <const L extends ReadonlyArray<string>>(...values: L) =>
  Schema.Literal(...(values as unknown as readonly [L[number], ...Array<L[number]>]))

/** Any one of `members`: Effect 3's `Schema.Union(...members)` (Effect 4: `Schema.Union(members)`). */
export const union = <const Members extends ReadonlyArray<AnySchema>>(...members: Members) => Schema.Union(...members)

/** `schema` read from JSON text: Effect 3's `Schema.parseJson` (Effect 4: `Schema.fromJsonString`). */
export const parseJson = <A, I, R>(schema: Schema.Schema<A, I, R>) => Schema.parseJson(schema)
