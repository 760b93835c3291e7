/**
 * The bulkhead's options as a Schema (Resilience4j's names, defaults and rules) and the
 * `effect/Config` reader that feeds it. Written once for both Effect targets (the combinators whose
 * form differs come from `#port`).
 *
 * @internal
 */
import {
  durationConfig,
  type DurationInput,
  DurationInputSchema,
  Name,
  numberConfig,
  WholeNumber,
  withDefault
} from "#port"
import * as Schema from "effect/Schema"

const fields = {
  maxConcurrentCalls: WholeNumber(0),
  maxWaitDuration: DurationInputSchema(0)
}

/** @internal */
export const OptionsSchema = Schema.Struct({
  name: Name,
  maxConcurrentCalls: withDefault(fields.maxConcurrentCalls, () => 25),
  maxWaitDuration: withDefault(fields.maxWaitDuration, (): DurationInput => 0)
})

/** What `reconfigure` accepts: any of the settings, no defaults (absent = unchanged). */
export const ChangesSchema = Schema.Struct({
  name: Name,
  maxConcurrentCalls: Schema.optional(fields.maxConcurrentCalls),
  maxWaitDuration: Schema.optional(fields.maxWaitDuration)
})

/** The options as `effect/Config` can carry them. */
export const configFields = {
  maxConcurrentCalls: numberConfig,
  maxWaitDuration: durationConfig
} as const
