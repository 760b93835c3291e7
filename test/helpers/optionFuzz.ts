/**
 * The option fuzzer shared by test/Config.fuzz.test.ts (the guards) and test/Config.fuzz.http.test.ts
 * (the HTTP client and middleware): random values and near misses for each guard's options, and the
 * check that each ends in a guard or a typed error naming the field, never a throw or a defect.
 */
import { failureOf } from "#port"
import { FastCheck } from "#test-port"
import { expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Schedule, type Scope } from "effect"
import { InvalidConfigError } from "../../src/errors/InvalidConfigError.js"

/** Values a user (or a YAML file, or a bug) could hand over. */
export const anything = FastCheck.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true
})

/** Plausible-looking wrong values for option fields, so decoders get past the first check. */
export const nearMiss = FastCheck.oneof(
  anything,
  FastCheck.constantFrom(-1, 0, 0.5, 1, 100, 101, 1e9, Infinity, -Infinity, NaN, -0, Number.MAX_SAFE_INTEGER + 2),
  FastCheck.constantFrom("", " ", "-1 seconds", "1 fortnight", "5 seconds", "0 millis", "1e400 millis", "Infinity"),
  FastCheck.constantFrom(-1n, 0n, 10n ** 30n, [1, 0], [-1, 0], [0, -1], [1.5, 2], [Infinity, 0], [NaN, NaN]),
  FastCheck.constantFrom(null, undefined, true, false, {}, [], () => true, Symbol("s"), Schedule.spaced("1 second"))
)

type Outcome = "ok" | "typed"

/**
 * Runs a decoder to its exit: success or a failure with InvalidConfigError/ConfigError; anything
 * else (a throw, a defect, another error) fails the test with the input that caused it.
 */
export const settle = (
  input: unknown,
  build: () => Effect.Effect<unknown, unknown, Scope.Scope>,
  allowConfigError = false
): Effect.Effect<{ outcome: Outcome; error?: InvalidConfigError }> =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Effect.scoped(Effect.suspend(build)))
    if (Exit.isSuccess(exit)) return { outcome: "ok" as const }
    const failure = failureOf(exit.cause)
    if (failure._tag === "None") {
      throw new Error(`defect or interruption for input ${safe(input)}: ${Cause.pretty(exit.cause)}`)
    }
    const error = failure.value
    if (allowConfigError && typeof error === "object" && error !== null && (error as any)._tag === "ConfigError") {
      return { outcome: "typed" as const }
    }
    if (!(error instanceof InvalidConfigError)) {
      throw new Error(`untyped failure for input ${safe(input)}: ${String(error)}`)
    }
    expect(error.issues.length).toBeGreaterThan(0)
    for (const issue of error.issues) {
      expect(typeof issue.field).toBe("string")
      expect(issue.field.length).toBeGreaterThan(0)
      expect(typeof issue.rule).toBe("string")
    }
    expect(typeof error.message).toBe("string") // printing the error never throws
    return { outcome: "typed" as const, error }
  })

export const safe = (u: unknown) => {
  try {
    return FastCheck.stringify(u)
  } catch {
    return String(u)
  }
}

/** A guard to fuzz: its make, a valid base, and the fields to mutate. */
export interface GuardCase {
  readonly name: string
  readonly make: (options: any) => Effect.Effect<unknown, unknown, Scope.Scope>
  readonly valid: Record<string, unknown>
  /** Cross-field rules: a bad value of the key may be reported against these fields instead. */
  readonly partners?: Record<string, ReadonlyArray<string>>
}

export const RUNS = 150

/** The three make properties for each guard (call inside a `describe`). */
export const fuzzMake = (guards: ReadonlyArray<GuardCase>): void => {
  for (const guard of guards) {
    it.effect(`${guard.name}.make: any value at all gives a typed error or a guard`, () =>
      Effect.promise(() =>
        FastCheck.assert(
          FastCheck.asyncProperty(anything, async (input) => {
            await Effect.runPromise(settle(input, () => guard.make(input)))
          }),
          { numRuns: RUNS }
        )
      ))

    it.effect(`${guard.name}.make: a record of random fields (named or not) is refused field by field`, () =>
      Effect.promise(() =>
        FastCheck.assert(
          FastCheck.asyncProperty(
            FastCheck.dictionary(
              FastCheck.oneof(FastCheck.constantFrom(...Object.keys(guard.valid)), FastCheck.string()),
              nearMiss
            ),
            async (input) => {
              await Effect.runPromise(settle(input, () => guard.make({ name: "fuzz", ...input })))
            }
          ),
          { numRuns: RUNS }
        )
      ))

    it.effect(`${guard.name}.make: one mutated field of valid options is named when refused`, () =>
      Effect.promise(async () => {
        // The base itself must be valid.
        const base = await Effect.runPromise(settle(guard.valid, () => guard.make(guard.valid)))
        expect(base.outcome).toBe("ok")
        await FastCheck.assert(
          FastCheck.asyncProperty(FastCheck.constantFrom(...Object.keys(guard.valid)), nearMiss, async (key, value) => {
            const input = { ...guard.valid, [key]: value }
            const { error, outcome } = await Effect.runPromise(settle(input, () => guard.make(input)))
            if (outcome === "ok") return
            const named = [key, ...(guard.partners?.[key] ?? [])]
            const fields = error!.issues.map((i) => i.field)
            const hit = fields.some((f) => named.some((n) => f === n || f.startsWith(`${n}.`)))
            if (!hit) throw new Error(`${key} = ${safe(value)} reported as ${fields.join(", ")}`)
          }),
          { numRuns: RUNS * 2 }
        )
      }))
  }
}
