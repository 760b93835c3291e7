/**
 * Schema constructors whose call shape differs between Effect 3 and Effect 4 (Effect 4's side; see
 * `../effect3/schemaShapes.ts`).
 *
 * @internal
 */
import * as Schema from "effect/Schema"

/** A schema a guard's options decode with (Effect 3: `Schema.Schema<A, I>`; Effect 4: `Schema.Codec<A, I>`). */
export type Codec<A, I = A> = Schema.Codec<A, I>

/** A record of `value`s by string key (Effect 3: `Schema.Record({ key, value })`; Effect 4: `Schema.Record(key, value)`). */
export const stringRecord = <V extends Schema.Constraint>(value: V) => Schema.Record(Schema.String, value)

/** An effectful decoder of unknown input (Effect 3: `Schema.decodeUnknown`; Effect 4: `Schema.decodeUnknownEffect`). */
export const decodeUnknownEffect = Schema.decodeUnknownEffect
