/**
 * The one error every guard's `make`, `layer` and `layerConfig` fail with when given bad options.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * One offending field: where it is, what it was, and the rule it breaks.
 *
 * @example
 * ```ts
 * import type { ConfigIssue } from "breakwater"
 *
 * const describe = (issue: ConfigIssue) => `${issue.field}: ${issue.rule}`
 * ```
 *
 * @since 0.1.0
 */
export interface ConfigIssue {
  /** Dotted path of the field, e.g. `failureRateThreshold`. */
  readonly field: string
  readonly value: unknown
  readonly rule: string
}

const show = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "function") return "<function>"
  if (typeof value === "number" || typeof value === "bigint") return String(value) // NaN, Infinity, 1n
  try {
    return JSON.stringify(value, (_key, v) => typeof v === "bigint" ? `${v}n` : v) ?? String(value)
  } catch {
    // Circular, or without a usable toString (an object with a null prototype): say what it is.
    try {
      return String(value)
    } catch {
      return Object.prototype.toString.call(value)
    }
  }
}

/**
 * A guard was configured with values it cannot honour. Lists every offending field at once.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker, InvalidConfigError } from "breakwater"
 *
 * const program = CircuitBreaker.make({ name: "payments", failureRateThreshold: 150 }).pipe(
 *   Effect.catchTag("InvalidConfigError", (error: InvalidConfigError) =>
 *     // error.name is "InvalidConfigError"; error.guardName is "payments"
 *     Effect.logError(`${error.guardName}: ${error.message}`) // ... failureRateThreshold = 150: ...
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 */
export class InvalidConfigError extends Data.TaggedError("InvalidConfigError")<{
  /** The kind of guard, e.g. `"CircuitBreaker"`. */
  readonly guard: string
  /**
   * The guard's own name (`"payments"`), or `"<unnamed>"` when none could be read. Named like the
   * other errors' `breakerName`/`limiterName`; `name` stays the class name, `"InvalidConfigError"`,
   * so logs and `String(error)` say what went wrong.
   */
  readonly guardName: string
  readonly issues: ReadonlyArray<ConfigIssue>
}> {
  override get message(): string {
    const fields = this.issues.map((issue) => `${issue.field} = ${show(issue.value)}: ${issue.rule}`)
    return `Invalid ${this.guard} '${this.guardName}' configuration: ${fields.join("; ")}`
  }
}
