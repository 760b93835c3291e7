/**
 * The test port for Effect 3: what test files need whose name or home differs in Effect 4. Test files
 * import it as `#test-port`; the Effect 4 run (targets/effect4/vitest.config.ts) swaps in effect4.ts.
 */
import { it } from "@effect/vitest"
import { ConfigProvider, Effect, type Fiber } from "effect"

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

/** Lets the other fibers run before this one goes on: `Effect.yieldNow()` in 3, a value in 4. */
export const yieldNow: Effect.Effect<void> = Effect.yieldNow()

/** Whether a forked fiber has not finished yet (`unsafePoll` in 3, `pollUnsafe` in 4). */
export const isRunning = <A, E>(fiber: Fiber.RuntimeFiber<A, E>): boolean => fiber.unsafePoll() === null

/** The Effect major these suites run against. */
export const targetMajor = 3
