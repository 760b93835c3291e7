/**
 * The two Schema combinators whose Effect 4 form differs, in Effect 3's form, so that option schemas
 * are written once (`src/internal/*Options.ts`) for both targets.
 *
 * @internal
 */
import * as Schema from "effect/Schema"

/** Keeps values for which `predicate` is `true`; a string is the message naming the broken rule. */
export const refine =
  <A>(predicate: (value: A) => true | string) => <I, R>(self: Schema.Schema<A, I, R>): Schema.Schema<A, I, R> =>
    self.pipe(Schema.filter((value: A) => predicate(value)))

/** An optional field that decodes to `value()` when absent or `undefined`. */
export const withDefault = <A, I, R>(schema: Schema.Schema<A, I, R>, value: () => NoInfer<A>) =>
  Schema.optionalWith(schema, { default: value })
