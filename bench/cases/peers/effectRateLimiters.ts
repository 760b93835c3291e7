/**
 * Effect 3's own `RateLimiter` (from "effect") and `@effect/experimental`'s `RateLimiter` with its
 * memory store, both uncontended (limits no run reaches).
 */
import { RateLimiter as ExperimentalRateLimiter } from "@effect/experimental"
import { Effect, RateLimiter as EffectRateLimiter } from "effect"
import { effectCase, inScope } from "../../floor.js"
import type { Case } from "../../harness.js"
import { Ours } from "./names.js"

const call = Effect.succeed(1)

/**
 * Effect's own limiter runs a refill fiber on a timer, so it is built and closed within each measured
 * slice (thousands of calls): left open it would keep the process alive.
 */
const effectLimiterCase = (name: string, algorithm: "fixed-window" | "token-bucket", ours: string): Case => ({
  name,
  ours,
  run: (ops) =>
    Effect.runSync(Effect.scoped(Effect.gen(function*() {
      const limiter = yield* EffectRateLimiter.make({ limit: 1e12, interval: "1 hour", algorithm })
      for (let i = 0; i < ops; i++) yield* Effect.exit(limiter(call))
    })))
})

const withExperimental = inScope(
  ExperimentalRateLimiter.makeWithRateLimiter.pipe(
    Effect.provide(ExperimentalRateLimiter.layer),
    Effect.provide(ExperimentalRateLimiter.layerStoreMemory)
  )
)

const experimental = (algorithm: "fixed-window" | "token-bucket") =>
  withExperimental({ algorithm, key: algorithm, limit: 1e12, window: "1 hour" })(call)

export const rateLimiterCases: ReadonlyArray<Case> = [
  effectLimiterCase("Effect 3 RateLimiter.make fixed-window", "fixed-window", Ours.fixedWindow),
  effectLimiterCase("Effect 3 RateLimiter.make token-bucket", "token-bucket", Ours.tokenBucket),
  effectCase("@effect/experimental RateLimiter memory store, fixed-window", experimental("fixed-window"), {
    ours: Ours.fixedWindow
  }),
  effectCase("@effect/experimental RateLimiter memory store, token-bucket", experimental("token-bucket"), {
    ours: Ours.tokenBucket
  })
]
