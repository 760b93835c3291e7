/**
 * Schema constructors whose call shape differs between Effect 3 and Effect 4 (Effect 3's side;
 * `../effect4/schemaShapes.ts` has the same names and call shapes).
 *
 * @internal
 */
import * as Schema from "effect/Schema"

/** A schema a guard's options decode with (Effect 3: `Schema.Schema<A, I>`; Effect 4: `Schema.Codec<A, I>`). */
export type Codec<A, I = A> = Schema.Schema<A, I>

/** A record of `value`s by string key (Effect 3: `Schema.Record({ key, value })`; Effect 4: `Schema.Record(key, value)`). */
export const stringRecord = <V extends Schema.Schema.Any>(value: V) => Schema.Record({ key: Schema.String, value })

/** An effectful decoder of unknown input (Effect 3: `Schema.decodeUnknown`; Effect 4: `Schema.decodeUnknownEffect`). */
export const decodeUnknownEffect = Schema.decodeUnknown
