/**
 * Helpers for the guards' tagged errors.
 *
 * @internal
 */
import { durationOf } from "#port"
import type * as Duration from "effect/Duration"
import * as Option from "effect/Option"

/**
 * A value's `retryAfter: Option<Duration>` hint (the project's convention for "come back after"), read
 * structurally from any error or value; none when absent or malformed.
 */
export const retryAfterField = (u: unknown): Option.Option<Duration.Duration> => {
  if (typeof u !== "object" || u === null) return Option.none()
  const hint = (u as { readonly retryAfter?: unknown }).retryAfter
  if (!Option.isOption(hint) || Option.isNone(hint)) return Option.none()
  return durationOf(hint.value)
}

/**
 * Builds an error without capturing a stack trace. Refusals are frequent while a guard is refusing
 * and their stack traces say nothing useful; capturing one costs more than the whole refusal.
 */
export const withoutStackTrace = <T>(make: () => T): T => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return make()
  } finally {
    Error.stackTraceLimit = limit
  }
}
