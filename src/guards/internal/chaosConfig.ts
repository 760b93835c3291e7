/**
 * The chaos policy's options as a Schema, and the `effect/Config` reader for the settings an operator
 * flips at runtime (rate, enabled).
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { DurationInput, Name } from "../../port/effect3/validation.js"

/** An injection rate: the probability, per call, that the fault is injected. */
export const Rate = Schema.Number.pipe(
  Schema.filter((n) => (n >= 0 && n <= 1) || "must be a probability in [0, 1] (0.01 = 1% of calls)")
)

const AnyEffect = Schema.declare((u: unknown): u is Effect.Effect<void> => Effect.isEffect(u), {
  message: () => "expected an Effect"
})

const Tag = <T extends string>(tag: T) => Schema.Literal(tag)

/** One fault per policy; each is built by its constructor in `Chaos.ts`. */
export const FaultSchema = Schema.Union(
  Schema.Struct({ _tag: Tag("Failure"), error: Schema.Unknown }),
  Schema.Struct({ _tag: Tag("Defect"), defect: Schema.Unknown }),
  Schema.Struct({ _tag: Tag("Latency"), latency: DurationInput(0) }),
  Schema.Struct({ _tag: Tag("Result"), value: Schema.Unknown }),
  Schema.Struct({ _tag: Tag("Behavior"), effect: AnyEffect })
)

/** The default injection rate: small, so a policy switched on by mistake hurts one call in a hundred. */
export const DEFAULT_RATE = 0.01

/** @internal */
export const OptionsSchema = Schema.Struct({
  name: Name,
  fault: FaultSchema,
  rate: Schema.optionalWith(Rate, { default: () => DEFAULT_RATE }),
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => true })
})

/** What `reconfigure` accepts. */
export const ChangesSchema = Schema.Struct({
  rate: Schema.optional(Rate),
  enabled: Schema.optional(Schema.Boolean)
})

/** The settings `effect/Config` can carry: the fault itself comes from code. */
export const configFields = {
  rate: Config.number,
  enabled: Config.boolean
} as const
