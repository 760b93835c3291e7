/**
 * The time limiter's options as a Schema (Resilience4j's names and defaults) and the `effect/Config`
 * reader that feeds it.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import { booleanConfig, durationConfig, DurationInput, Name } from "../../port/effect3/validation.js"

const fields = {
  // Time is read from `Clock` in milliseconds, so a shorter limit could not be honoured.
  timeoutDuration: DurationInput(Duration.millis(1)),
  cancelRunningCall: Schema.Boolean
}

/** @internal */
export const OptionsSchema = Schema.Struct({
  name: Name,
  timeoutDuration: Schema.optionalWith(fields.timeoutDuration, { default: (): Duration.DurationInput => "1 second" }),
  cancelRunningCall: Schema.optionalWith(fields.cancelRunningCall, { default: () => true })
})

/** What `reconfigure` accepts: any of the settings, no defaults (absent = unchanged). */
export const ChangesSchema = Schema.Struct({
  name: Name,
  timeoutDuration: Schema.optional(fields.timeoutDuration),
  cancelRunningCall: Schema.optional(fields.cancelRunningCall)
})

/** The options as `effect/Config` can carry them. */
export const configFields = {
  timeoutDuration: durationConfig,
  cancelRunningCall: booleanConfig
} as const
