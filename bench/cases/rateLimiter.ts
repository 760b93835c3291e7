import { Effect } from "effect"
import { RateLimiter } from "../../src/index.js"
import { effectCase, inScope } from "../floor.js"
import { Ours } from "./peers/names.js"

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

/** Ratios are reported against the floor of the same outcome (`refus` in the name → failure floor). */
export const cases = [
  effectCase(Ours.fixedWindow, RateLimiter.withRateLimiter(call, fixed)),
  effectCase(Ours.tokenBucket, RateLimiter.withRateLimiter(call, bucket)),
  effectCase(Ours.slidingWindow, RateLimiter.withRateLimiter(call, sliding)),
  effectCase("rate limiter refusal (timeout 0)", RateLimiter.withRateLimiter(call, exhausted))
]
