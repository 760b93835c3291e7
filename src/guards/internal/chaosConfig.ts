/**
 * The chaos policy's options as a Schema, and the `effect/Config` reader for the settings an operator
 * flips at runtime (rate, enabled). Written once for both Effect targets (the combinators whose form
 * differs come from `#port`).
 *
 * @internal
 */
import {
  declare,
  DurationInputSchema,
  Name,
  refine,
  strictBooleanConfig,
  strictNumberConfig,
  union,
  withDefault
} from "#port"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/** An injection rate: the probability, per call, that the fault is injected. */
export const Rate = Schema.Number.pipe(
  refine((n: number) => (n >= 0 && n <= 1) || "must be a probability in [0, 1] (0.01 = 1% of calls)")
)

const AnyEffect = declare((u: unknown): u is Effect.Effect<void> => Effect.isEffect(u), "expected an Effect")

const Tag = <T extends string>(tag: T) => Schema.Literal(tag)

/** One fault per policy; each is built by its constructor in `Chaos.ts`. */
export const FaultSchema = union(
  Schema.Struct({ _tag: Tag("Failure"), error: Schema.Unknown }),
  Schema.Struct({ _tag: Tag("Defect"), defect: Schema.Unknown }),
  Schema.Struct({ _tag: Tag("Latency"), latency: DurationInputSchema(0) }),
  Schema.Struct({ _tag: Tag("Result"), value: Schema.Unknown }),
  Schema.Struct({ _tag: Tag("Behavior"), effect: AnyEffect })
)

/** The default injection rate: small, so a policy switched on by mistake hurts one call in a hundred. */
export const DEFAULT_RATE = 0.01

/** @internal */
export const OptionsSchema = Schema.Struct({
  name: Name,
  fault: FaultSchema,
  rate: withDefault(Rate, () => DEFAULT_RATE),
  enabled: withDefault(Schema.Boolean, () => true)
})

/** What `reconfigure` accepts. */
export const ChangesSchema = Schema.Struct({
  rate: Schema.optional(Rate),
  enabled: Schema.optional(Schema.Boolean)
})

/** The settings `effect/Config` can carry: the fault itself comes from code; an unreadable value is a ConfigError. */
export const configFields = {
  rate: strictNumberConfig,
  enabled: strictBooleanConfig
} as const
