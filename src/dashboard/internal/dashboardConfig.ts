/**
 * The dashboard's plain options (pace, history, viewers, access) as a Schema with their defaults.
 * The effects it reads (guards, figures, `authorize`) are checked by their types alone.
 *
 * @internal
 */
import { type DurationInput, FiniteDuration, refine, union, WholeNumber, withDefault } from "#port"
import * as Schema from "effect/Schema"

/**
 * Viewers of the event stream at once. Each costs a socket and a write of the shared frame per
 * interval (measured: 20 viewers of 1,000 guards add no measurable CPU to the one computation), so
 * the cap is there to bound sockets and slow readers, not work: 20 is a team during an incident,
 * each with a tab or two. Hystrix's stream allows 5.
 */
export const DEFAULT_MAX_VIEWERS = 20

/**
 * Bytes of encoded documents kept for a page that connects: 4 MiB holds the default 300 documents
 * (5 minutes) for about 50 guards, fewer minutes for more guards.
 */
export const DEFAULT_MAX_HISTORY_BYTES = 4 * 1024 * 1024

const Redact = union(
  Schema.Boolean,
  Schema.Struct({
    configuration: Schema.optional(Schema.Boolean),
    names: Schema.optional(Schema.Boolean)
  })
)

/** @internal */
export const OptionsSchema = Schema.Struct({
  interval: withDefault(FiniteDuration("1 millis"), (): DurationInput => "1 second"),
  history: withDefault(WholeNumber(0), () => 300),
  maxHistoryBytes: withDefault(WholeNumber(0), () => DEFAULT_MAX_HISTORY_BYTES),
  maxViewers: withDefault(WholeNumber(0), () => DEFAULT_MAX_VIEWERS),
  allowedHosts: withDefault(
    Schema.Array(Schema.String.pipe(refine((s: string) => s.length > 0 || "must not be empty"))),
    () => []
  ),
  redact: withDefault(Redact, () => false),
  challenge: withDefault(Schema.String, () => "Bearer realm=\"breakwater\"")
})
