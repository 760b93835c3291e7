/**
 * The time limiter's options as a Schema (Resilience4j's names and defaults) and the `effect/Config`
 * reader that feeds it. Written once for both Effect targets (the combinators whose form differs come
 * from `#port`).
 *
 * @internal
 */
import { booleanConfig, durationConfig, type DurationInput, DurationInputSchema, Name, withDefault } from "#port"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

const fields = {
  // Time is read from `Clock` in milliseconds, so a shorter limit could not be honoured.
  timeoutDuration: DurationInputSchema(Duration.millis(1)),
  cancelRunningCall: Schema.Boolean
}

/** @internal */
export const OptionsSchema = Schema.Struct({
  name: Name,
  timeoutDuration: withDefault(fields.timeoutDuration, (): DurationInput => "1 second"),
  cancelRunningCall: withDefault(fields.cancelRunningCall, () => true)
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
