import { Effect } from "effect"
import { TimeLimiter } from "../../src/index.js"
import { effectCase, inScope } from "../floor.js"

const call = Effect.succeed(1)

const limiter = inScope(TimeLimiter.make({ name: "limited", timeoutDuration: "1 minute" }))
const detaching = inScope(
  TimeLimiter.make({ name: "detaching", timeoutDuration: "1 minute", cancelRunningCall: false })
)

export const TimeLimiterCases = {
  success: "time limiter, success"
} as const

export const cases = [
  effectCase(TimeLimiterCases.success, TimeLimiter.withTimeLimiter(call, limiter)),
  effectCase("time limiter (no cancel), success", TimeLimiter.withTimeLimiter(call, detaching))
]
