import { Effect } from "effect"
import { CircuitBreaker } from "../../src/index.js"
import { effectCase, inScope } from "../floor.js"
import { Ours } from "./peers/names.js"

const call = Effect.succeed(1)
const failing = Effect.fail("boom")

const countBreaker = inScope(CircuitBreaker.make({ name: "count", slidingWindowSize: 100, minimumNumberOfCalls: 100 }))
const timeBreaker = inScope(
  CircuitBreaker.make({
    name: "time",
    slidingWindowType: "TIME_BASED",
    slidingWindowSize: 60,
    minimumNumberOfCalls: 100
  })
)
// Failing calls that are recorded but never trip: the minimum number of calls is never reached.
const tolerant = inScope(
  CircuitBreaker.make({ name: "tolerant", slidingWindowType: "TIME_BASED", minimumNumberOfCalls: 1e12 })
)
const open = inScope(CircuitBreaker.make({ name: "open", waitDurationInOpenState: "1 hour" }))
Effect.runSync(open.transitionToOpen)

/** Ratios are reported against the floor of the same outcome (`failure` in the name → failure floor). */
export const cases = [
  effectCase(Ours.breakerCount, CircuitBreaker.withCircuitBreaker(call, countBreaker)),
  effectCase(Ours.breakerTime, CircuitBreaker.withCircuitBreaker(call, timeBreaker)),
  effectCase(Ours.breakerFailure, CircuitBreaker.withCircuitBreaker(failing, tolerant)),
  effectCase(Ours.breakerOpen, CircuitBreaker.withCircuitBreaker(call, open))
]
