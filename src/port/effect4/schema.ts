/**
 * The two Schema combinators whose form differs between Effect 3 and 4, in Effect 4's form (see
 * `../effect3/schema.ts`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/** Keeps values for which `predicate` is `true`; a string is the message naming the broken rule. */
export const refine =
  <A>(predicate: (value: A) => true | string) => <S extends Schema.Top & { readonly Type: A }>(self: S): S["Rebuild"] =>
    self.check(Schema.makeFilter<A>((value) => predicate(value)))

/** An optional field that decodes to `value()` when absent or `undefined`. */
export const withDefault = <S extends Schema.Top>(schema: S, value: () => NoInfer<S["Encoded"]>) =>
  Schema.withDecodingDefault<S>(Effect.sync(value))(schema)
