/**
 * The test port for Effect 4 (see effect3.ts): the same names, in Effect 4's forms.
 */
import { it } from "@effect/vitest"
import { ConfigProvider, Effect, type Exit, type Fiber, Option } from "effect"

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

/** The Effect major these suites run against. */
export const targetMajor: 3 | 4 = 4

/** Lets other fibers run: `Effect.yieldNow()` in 3 (a function), `Effect.yieldNow` in 4 (a value). */
export const yieldNow: Effect.Effect<void> = Effect.yieldNow

/** A fiber's exit if it has ended: `Fiber.poll` in 3, the fiber's `pollUnsafe()` in 4. */
export const pollFiber = <A, E>(fiber: Fiber.Fiber<A, E>): Effect.Effect<Option.Option<Exit.Exit<A, E>>> =>
  Effect.sync(() => Option.fromUndefinedOr(fiber.pollUnsafe()))
