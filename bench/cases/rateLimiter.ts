import { Effect, RateLimiter as EffectRateLimiter } from "effect"
import { RateLimiter } from "../../src/index.js"
import { effectCase, inScope } from "../floor.js"
import type { Case } from "../harness.js"

const call = Effect.succeed(1)

// Limits no run can reach, so every case measures the uncontended path (the sliding window keeps
// a short window, since it remembers each grant for the length of the window).
const fixed = inScope(RateLimiter.make({ name: "fixed", limitForPeriod: 1e12, limitRefreshPeriod: "1 hour" }))
const bucket = inScope(
  RateLimiter.make({ name: "bucket", algorithm: "token-bucket", limitForPeriod: 1e12, limitRefreshPeriod: "1 hour" })
)
const sliding = inScope(
  RateLimiter.make({
    name: "sliding",
    algorithm: "sliding-window",
    limitForPeriod: 1e6,
    limitRefreshPeriod: "1 millis"
  })
)
// Exhausted for an hour and never waiting: every call is refused.
const exhausted = inScope(
  RateLimiter.make({ name: "exhausted", limitForPeriod: 1, limitRefreshPeriod: "1 hour", timeoutDuration: 0 })
)
Effect.runSync(exhausted.drainPermissions)

/**
 * Effect's own limiter, for comparison. It runs a refill fiber on a timer, so it is built and closed
 * within each measured slice (a few thousand calls): left open it would keep the process alive.
 */
const effectLimiterCase = (name: string, algorithm: "fixed-window" | "token-bucket"): Case => ({
  name,
  run: (ops) =>
    Effect.runSync(Effect.scoped(Effect.gen(function*() {
      const limiter = yield* EffectRateLimiter.make({ limit: 1e12, interval: "1 hour", algorithm })
      for (let i = 0; i < ops; i++) yield* Effect.exit(limiter(call))
    })))
})

/** Ratios are reported against the floor of the same outcome (`refus` in the name → failure floor). */
export const cases = [
  effectCase("rate limiter fixed-window, acquire and run", RateLimiter.withRateLimiter(call, fixed)),
  effectCase("rate limiter token-bucket, acquire and run", RateLimiter.withRateLimiter(call, bucket)),
  effectCase("rate limiter sliding-window, acquire and run", RateLimiter.withRateLimiter(call, sliding)),
  effectCase("rate limiter refusal (timeout 0)", RateLimiter.withRateLimiter(call, exhausted)),
  effectLimiterCase("Effect's RateLimiter (fixed-window), acquire and run", "fixed-window"),
  effectLimiterCase("Effect's RateLimiter (token-bucket), acquire and run", "token-bucket")
]
