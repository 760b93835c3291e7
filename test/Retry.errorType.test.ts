/**
 * `MaxRetriesExceededError` is in a retry's error type only when its options can raise it:
 * `retryOnResult` given and `failAfterMaxAttempts: true`. The type-level checks run under
 * `tsc --noEmit` (CI's type-check); the runtime checks show the types tell the truth.
 */
import { Service } from "#port"
import { configFromJson, itScoped, withConfig } from "#test-port"
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as Retry from "../src/guards/Retry.js"
import * as Registry from "../src/registry/Registry.js"
import * as Policy from "../src/shared/Policy.js"

type ErrorOf<T> = T extends Effect.Effect<any, infer E, any> ? E : never
type Made<T> = T extends Effect.Effect<infer R, any, any> ? R : never

const call = Effect.succeed("" as string) as Effect.Effect<string, "boom">
const empty = (s: string) => s === ""
const flag = Math.random() > 2 // a boolean not known statically

describe("Retry error type", () => {
  itScoped("Retry.layer: a tag that never raises takes only options that cannot raise", () =>
    Effect.gen(function*() {
      class Never extends Service<Never, Retry.Retry<unknown, string, never>>()("Never") {}
      class May extends Service<May, Retry.Retry<unknown, string>>()("May") {}
      // An error on both Effects: Effect 4's service keys are covariant (a `never` tag is also a key for a
      // Retry<E, A> that may raise), so Retry.layer reads the tag's error parameter instead of overloading.
      // @ts-expect-error: these options can end a call with MaxRetriesExceededError; the tag says never
      Retry.layer(Never, { name: "both", retryOnResult: empty, failAfterMaxAttempts: true })
      const never = yield* Effect.provide(Never, Retry.layer(Never, { name: "onlyResult", retryOnResult: empty }))
      const may = yield* Effect.provide(
        May,
        Retry.layer(May, { name: "any", retryOnResult: empty, failAfterMaxAttempts: true })
      )
      // Non-empty values are not retried: no sleep under the TestClock.
      const lenient = Effect.succeed("served").pipe(Retry.withRetry(never))
      expectTypeOf<ErrorOf<typeof lenient>>().toEqualTypeOf<never>()
      expect(yield* lenient).toBe("served")
      const strict = Effect.succeed("served").pipe(Retry.withRetry(may))
      expectTypeOf<ErrorOf<typeof strict>>().toEqualTypeOf<Retry.MaxRetriesExceededError>()
      expect(yield* strict).toBe("served")
    }))

  it("types each combination of retryOnResult and failAfterMaxAttempts", () => {
    const _plain = Retry.make({ name: "a" })
    const _onlyResult = Retry.make({ name: "a", retryOnResult: empty })
    const _onlyFail = Retry.make({ name: "a", failAfterMaxAttempts: true })
    const _resultFalse = Retry.make({ name: "a", retryOnResult: empty, failAfterMaxAttempts: false })
    const _both = Retry.make({ name: "a", retryOnResult: empty, failAfterMaxAttempts: true })
    const _unknownFlag = Retry.make({ name: "a", retryOnResult: empty, failAfterMaxAttempts: flag })

    expectTypeOf<Made<typeof _plain>>().toEqualTypeOf<Retry.Retry<unknown, unknown, never>>()
    expectTypeOf<Made<typeof _onlyResult>>().toEqualTypeOf<Retry.Retry<unknown, string, never>>()
    expectTypeOf<Made<typeof _onlyFail>>().toEqualTypeOf<Retry.Retry<unknown, unknown, never>>()
    expectTypeOf<Made<typeof _resultFalse>>().toEqualTypeOf<Retry.Retry<unknown, string, never>>()
    expectTypeOf<Made<typeof _both>>().toEqualTypeOf<Retry.Retry<unknown, string, Retry.MaxRetriesExceededError>>()
    // Not known to be false: it may raise.
    expectTypeOf<Made<typeof _unknownFlag>>().toEqualTypeOf<
      Retry.Retry<unknown, string, Retry.MaxRetriesExceededError>
    >()

    expectTypeOf<Retry.RaisedBy<{ name: "a" }>>().toEqualTypeOf<never>()
    expectTypeOf<Retry.RaisedBy<{ name: "a"; failAfterMaxAttempts: true }>>().toEqualTypeOf<never>()
    expectTypeOf<Retry.RaisedBy<{ name: "a"; retryOnResult: typeof empty }>>().toEqualTypeOf<never>()
    expectTypeOf<Retry.RaisedBy<{ name: "a"; retryOnResult: typeof empty; failAfterMaxAttempts: true }>>()
      .toEqualTypeOf<Retry.MaxRetriesExceededError>()
    expectTypeOf<Retry.RaisedBy<Retry.Options<unknown, string>>>().toEqualTypeOf<Retry.MaxRetriesExceededError>()
    expectTypeOf<Retry.RaisedBy<{ name: "a"; retryOnResult: typeof empty; failAfterMaxAttempts: boolean }>>()
      .toEqualTypeOf<Retry.MaxRetriesExceededError>()
  })

  it("withRetry and policy add MaxRetriesExceededError only when the retry can raise it", () => {
    const withNever = (retry: Retry.Retry<unknown, string, never>) => {
      expectTypeOf<ErrorOf<ReturnType<typeof Retry.withRetry<string, "boom", never, unknown, string, never>>>>()
        .toEqualTypeOf<"boom">()
      expectTypeOf(call.pipe(Retry.withRetry(retry))).toEqualTypeOf<Effect.Effect<string, "boom">>()
      expectTypeOf(Retry.withRetry(call, retry)).toEqualTypeOf<Effect.Effect<string, "boom">>()
      expectTypeOf(Retry.policy(retry)(call)).toEqualTypeOf<Effect.Effect<string, "boom">>()
      // Nothing to catch: catchTag has no such tag to offer.
      // @ts-expect-error MaxRetriesExceededError is not in the error type
      call.pipe(Retry.withRetry(retry), Effect.catchTag("MaxRetriesExceededError", () => Effect.succeed("")))
    }
    const withMax = (retry: Retry.Retry<unknown, string, Retry.MaxRetriesExceededError>) => {
      expectTypeOf(call.pipe(Retry.withRetry(retry))).toEqualTypeOf<
        Effect.Effect<string, "boom" | Retry.MaxRetriesExceededError>
      >()
      expectTypeOf(Policy.compose(Retry.policy(retry))(call)).toEqualTypeOf<
        Effect.Effect<string, "boom" | Retry.MaxRetriesExceededError>
      >()
    }
    // The default (what a Layer from configuration or a Registry gives) may raise.
    expectTypeOf<Retry.Retry>().toEqualTypeOf<Retry.Retry<unknown, unknown, Retry.MaxRetriesExceededError>>()
    // A retry that cannot raise is usable wherever one that may raise is expected.
    expectTypeOf<Retry.Retry<unknown, string, never>>().toMatchTypeOf<Retry.Retry<unknown, string>>()
    expect([withNever, withMax]).toHaveLength(2)
  })

  itScoped(
    "at run time: a retry typed without it never fails with it, one typed with it does",
    () =>
      Effect.gen(function*() {
        const plain = yield* Retry.make({ name: "a", maxAttempts: 2, waitDuration: 0, retryOnResult: empty })
        expect(yield* Retry.withRetry(Effect.succeed(""), plain)).toBe("")

        const strict = yield* Retry.make({
          name: "b",
          maxAttempts: 2,
          waitDuration: 0,
          retryOnResult: empty,
          failAfterMaxAttempts: true
        })
        const error = yield* Effect.flip(Retry.withRetry(Effect.succeed(""), strict))
        expect(error).toBeInstanceOf(Retry.MaxRetriesExceededError)
        expect(error.attempts).toBe(2)
      })
  )

  itScoped(
    "reconfigure refuses to turn it on for a retry typed without it, and changes nothing",
    () =>
      Effect.gen(function*() {
        const retry = yield* Retry.make({ name: "a", maxAttempts: 2, waitDuration: 0, retryOnResult: empty })
        const error = yield* Effect.flip(Retry.reconfigure(retry, { failAfterMaxAttempts: true }))
        expect(error.guardName).toBe("a")
        expect(error.issues.map((i) => i.field)).toEqual(["failAfterMaxAttempts"])
        expect(yield* Retry.withRetry(Effect.succeed(""), retry)).toBe("")
        // Turning it on is fine when it does not combine with retryOnResult (nothing can raise).
        const other = yield* Retry.make({ name: "b", waitDuration: 0 })
        yield* Retry.reconfigure(other, { failAfterMaxAttempts: true })
        // And turning it off on a retry typed with it is always fine.
        const strict = yield* Retry.make({ name: "c", retryOnResult: empty, failAfterMaxAttempts: true })
        yield* Retry.reconfigure(strict, { failAfterMaxAttempts: false })
        yield* Retry.reconfigure(strict, { failAfterMaxAttempts: true })
      })
  )

  itScoped("a Registry's retry and a Layer from configuration may turn it on later", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.make()
      const fromRegistry = yield* registry.retry("r", { retryOnResult: empty, waitDuration: 0, maxAttempts: 2 })
      expectTypeOf(fromRegistry).toEqualTypeOf<Retry.Retry<unknown, string>>()
      yield* registry.reload({ retry: { instances: { r: { failAfterMaxAttempts: true } } } })
      const exit = yield* Effect.exit(Retry.withRetry(Effect.succeed(""), fromRegistry))
      expect(Exit.isFailure(exit)).toBe(true)

      class Tag extends Service<Tag, Retry.Retry<unknown, string>>()("Tag") {}
      const fromConfig = yield* Effect.provide(
        Tag,
        Retry.layerConfig(Tag, Retry.config("x"), { retryOnResult: empty, waitDuration: 0 })
      ).pipe(withConfig(configFromJson({ x: { maxAttempts: 2 } })))
      yield* Retry.reconfigure(fromConfig, { failAfterMaxAttempts: true })
      expect(yield* Effect.flip(Retry.withRetry(Effect.succeed(""), fromConfig))).toBeInstanceOf(
        Retry.MaxRetriesExceededError
      )
    }))
})
