/**
 * The test port for Effect 4 (see effect3.ts): the same names, in Effect 4's forms.
 */
import { it } from "@effect/vitest"
import { ConfigProvider, Effect, type Fiber } from "effect"

// Effect 4 no longer re-exports fast-check; the toolchain in targets/effect4 installs it.
export { TestClock } from "effect/testing"
export * as FastCheck from "fast-check"

/** `it.effect` provides a `Scope` in @effect/vitest 4. */
export const itScoped = it.effect

/** A config provider over a JSON-like object. */
export const configFromJson = (json: unknown): ConfigProvider.ConfigProvider => ConfigProvider.fromUnknown(json)

/** Runs `self` with `provider` as its configuration. */
export const withConfig =
  (provider: ConfigProvider.ConfigProvider) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.provideService(self, ConfigProvider.ConfigProvider, provider)

/** Lets the other fibers run before this one goes on: `Effect.yieldNow()` in 3, a value in 4. */
export const yieldNow: Effect.Effect<void> = Effect.yieldNow

/** Whether a forked fiber has not finished yet (`unsafePoll` in 3, `pollUnsafe` in 4). */
export const isRunning = <A, E>(fiber: Fiber.Fiber<A, E>): boolean => fiber.pollUnsafe() === undefined

/** The Effect major these suites run against. */
export const targetMajor = 4
