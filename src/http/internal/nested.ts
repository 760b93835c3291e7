/**
 * Checking a guard's options inside another guard's options: the guard's own `make` decides, and its
 * issues are reported under the field that holds them, in one `InvalidConfigError`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import { invalidConfig } from "../../port/effect3/validation.js"

/** Builds a guard once in a throwaway scope, keeping only its issues, prefixed with `field`. */
export const nestedIssues = <E>(
  field: string,
  build: Effect.Effect<unknown, E, import("effect/Scope").Scope>
): Effect.Effect<ReadonlyArray<InvalidConfigError["issues"][number]>> =>
  Effect.map(Effect.either(Effect.scoped(build)), (result) => {
    if (Either.isRight(result)) return []
    const error = result.left
    if (!(error instanceof InvalidConfigError)) return [{ field, value: undefined, rule: String(error) }]
    return error.issues.map((issue) => ({ ...issue, field: `${field}.${issue.field}` }))
  })

/** Merges issues from several checks into one error (or none). */
export const failWithIssues = (
  guard: string,
  name: string,
  groups: ReadonlyArray<ReadonlyArray<InvalidConfigError["issues"][number]>>
): Effect.Effect<void, InvalidConfigError> => {
  const issues = groups.flat()
  return issues.length === 0 ? Effect.void : Effect.fail(invalidConfig(guard, name, issues))
}
