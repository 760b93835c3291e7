import { Effect } from "effect"
import { AdaptiveLimiter, AdaptiveThrottler } from "../../src/index.js"
import { effectCase, inScope } from "../floor.js"

const call = Effect.succeed(1)

// Both algorithms do the same per-call work (a sample into the window); the window closes on a timer.
const limiter = inScope(AdaptiveLimiter.make({ name: "bench", maxLimit: 1000 }))
// A dependency that accepts everything: the probability is 0 and no random draw is made.
const throttler = inScope(AdaptiveThrottler.make({ name: "bench" }))

export const cases = [
  effectCase("adaptive limiter uncontended, success", AdaptiveLimiter.withAdaptiveLimiter(call, limiter)),
  effectCase("adaptive throttler, accepting dependency", AdaptiveThrottler.withAdaptiveThrottler(call, throttler))
]
