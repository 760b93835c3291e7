import { Effect } from "effect"
import { TimeLimiter } from "../../src/index.js"
import { Baseline, effectCase, inScope } from "../floor.js"

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

/** Issue 18: a call that finishes in time costs at most 3x the floor (no fiber per call). */
export const timeLimiterTargets = (ns: (name: string) => number) => {
  const ratio = ns(TimeLimiterCases.success) / ns(Baseline.floor)
  return [{
    target: "time limiter, success <= 3x floor",
    measured: `${Number.isFinite(ratio) ? ratio.toFixed(2) : "n/a"}x floor`,
    met: Number.isFinite(ratio) ? ratio <= 3 : undefined
  }]
}
