/**
 * The bulkhead's options as a Schema (Resilience4j's names, defaults and rules) and the
 * `effect/Config` reader that feeds it.
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import { durationConfig, DurationInput, Name, numberConfig, WholeNumber } from "../../port/effect3/validation.js"

const fields = {
  maxConcurrentCalls: WholeNumber(0),
  maxWaitDuration: DurationInput(0)
}

/** @internal */
export const OptionsSchema = Schema.Struct({
  name: Name,
  maxConcurrentCalls: Schema.optionalWith(fields.maxConcurrentCalls, { default: () => 25 }),
  maxWaitDuration: Schema.optionalWith(fields.maxWaitDuration, { default: () => 0 })
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
