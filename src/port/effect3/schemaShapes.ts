/**
 * Schema constructors whose call shape differs between Effect 3 and Effect 4 (Effect 3's side;
 * `../effect4/schemaShapes.ts` has the same names and call shapes).
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"

/** A schema a guard's options decode with (Effect 3: `Schema.Schema<A, I>`; Effect 4: `Schema.Codec<A, I>`). */
export type Codec<A, I = A> = Schema.Schema<A, I>

/** One of `values` (Effect 3: `Schema.Literal(...values)`; Effect 4: `Schema.Literals([...values])`). */
export const literals = <const L extends readonly [AST.LiteralValue, ...Array<AST.LiteralValue>]>(...values: L) =>
  Schema.Literal(...values)

/** Any of `members` (Effect 3: `Schema.Union(...members)`; Effect 4: `Schema.Union([...members])`). */
export const union = <const M extends readonly [Schema.Schema.Any, Schema.Schema.Any, ...Array<Schema.Schema.Any>]>(
  ...members: M
) => Schema.Union(...members)

/** A record of `value`s by string key (Effect 3: `Schema.Record({ key, value })`; Effect 4: `Schema.Record(key, value)`). */
export const stringRecord = <V extends Schema.Schema.Any>(value: V) => Schema.Record({ key: Schema.String, value })

/** `schema` encoded as JSON text (Effect 3: `Schema.parseJson`; Effect 4: `Schema.fromJsonString`). */
export const jsonString = <S extends Schema.Schema.Any>(schema: S) => Schema.parseJson(schema)

/** An effectful decoder of unknown input (Effect 3: `Schema.decodeUnknown`; Effect 4: `Schema.decodeUnknownEffect`). */
export const decodeUnknownEffect = Schema.decodeUnknown
