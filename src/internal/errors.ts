/**
 * Helpers for the guards' tagged errors.
 *
 * @internal
 */

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
