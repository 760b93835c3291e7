/**
 * The Effect-free parts of option decoding, shared by both ports (`effect3/validation.ts`,
 * `effect4/options.ts`) so that the words and forms they accept cannot drift apart.
 *
 * @internal
 */

/** The value at `path` inside `input`, or `undefined` where the path leaves the object. */
export const valueAt = (input: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let current = input
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined
    current = (current as Record<PropertyKey, unknown>)[key]
  }
  return current
}

/** The message for a value that is not a duration. */
export const durationExpected =
  "expected a non-negative duration (a Duration, milliseconds, or a string such as \"5 seconds\")"

/** The message for a value that is not a function (a predicate option). */
export const functionExpected = "expected a function"

/** A duration string with a minus sign: refused rather than clamped to zero. */
export const negative = /^\s*-/

/** The rule of `Percentage`. */
export const percentageRule = (n: number): true | string => (n > 0 && n <= 100) || "must be a percentage in (0, 100]"

/** The rule of `WholeNumber(min)`. */
export const wholeNumberRule = (min: number) => (n: number): true | string =>
  (Number.isInteger(n) && n >= min) || `must be a whole number >= ${min}`

/** The message of `OneOf(...values)`. */
export const oneOfMessage = (values: ReadonlyArray<string>): string =>
  `must be one of ${values.map((v) => JSON.stringify(v)).join(", ")}`

/** The rule of `Name`. */
export const nameRule = (s: string): true | string => s.length > 0 || "must not be empty"

const numeric = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/

/** Configuration text as a number when it is one, else the text itself (for the Schema to report). */
export const numberFromText = (text: string): unknown => numeric.test(text) ? Number(text) : text

/** Configuration text as a boolean (`true`/`false`, any case) when it is one, else the text itself. */
export const booleanFromText = (text: string): unknown => {
  const word = text.trim().toLowerCase()
  return word === "true" ? true : word === "false" ? false : text
}

/**
 * `changes` with every key that is present but `undefined` set to its default: for `reconfigure`,
 * "undefined" means "back to the default" (how the Registry resets a key removed from configuration).
 */
export const restoreDefaults = <T extends object>(changes: T, defaults: object): T => {
  const restored: Record<string, unknown> = { ...(changes as Record<string, unknown>) }
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined && key in defaults) restored[key] = (defaults as Record<string, unknown>)[key]
  }
  return restored as T
}
