/**
 * The test port for Effect 3: what test files need whose name or home differs in Effect 4. Test files
 * import it as `#test-port`; the Effect 4 run (targets/effect4/vitest.config.ts) swaps in effect4.ts.
 */
import { it } from "@effect/vitest"
import { ConfigProvider, Effect, type Exit, Fiber, Option } from "effect"

export { TestClock } from "effect"
export * as FastCheck from "effect/FastCheck"

/** A test that needs a `Scope`: `it.scoped` in @effect/vitest 0.x (`it.effect` provides one in 4). */
export const itScoped = it.scoped

/** A config provider over a JSON-like object. */
export const configFromJson = (json: unknown): ConfigProvider.ConfigProvider => ConfigProvider.fromJson(json)

/** Runs `self` with `provider` as its configuration. */
export const withConfig =
  (provider: ConfigProvider.ConfigProvider) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withConfigProvider(self, provider)

/** The Effect major these suites run against. */
export const targetMajor: 3 | 4 = 3

/** Lets other fibers run: `Effect.yieldNow()` in 3 (a function), `Effect.yieldNow` in 4 (a value). */
export const yieldNow: Effect.Effect<void> = Effect.yieldNow()

/** A fiber's exit if it has ended: `Fiber.poll` in 3, the fiber's `pollUnsafe()` in 4. */
export const pollFiber = <A, E>(fiber: Fiber.Fiber<A, E>): Effect.Effect<Option.Option<Exit.Exit<A, E>>> =>
  Fiber.poll(fiber)
