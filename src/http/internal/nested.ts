/**
 * Checking a guard's options inside another guard's options: the guard's own `make` decides, and its
 * issues are reported under the field that holds them, in one `InvalidConfigError`.
 *
 * @internal
 */
import { invalidConfig } from "#port"
import * as Effect from "effect/Effect"
import { InvalidConfigError } from "../../errors/InvalidConfigError.js"

/** Builds a guard once in a throwaway scope, keeping only its issues, prefixed with `field`. */
export const nestedIssues = <E>(
  field: string,
  build: Effect.Effect<unknown, E, import("effect/Scope").Scope>
): Effect.Effect<ReadonlyArray<InvalidConfigError["issues"][number]>> =>
  Effect.match(Effect.scoped(build), {
    onSuccess: () => [],
    onFailure: (error) =>
      error instanceof InvalidConfigError
        ? error.issues.map((issue) => ({ ...issue, field: `${field}.${issue.field}` }))
        : [{ field, value: undefined, rule: String(error) }]
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
