/**
 * cockatiel 3 (Promise-based): its three breakers, its bulkhead, natively (`await policy.execute(fn)`)
 * and as an Effect program uses them (`Effect.tryPromise(() => policy.execute(fn))`). The protected
 * call is a plain value, the cheapest call cockatiel can run; wrapping an Effect call would add a
 * `runPromise` per call on top.
 */
import {
  bulkhead,
  circuitBreaker,
  ConsecutiveBreaker,
  CountBreaker,
  handleAll,
  type IBreaker,
  SamplingBreaker
} from "cockatiel"
import { Effect } from "effect"
import { asyncEffectCase, atTeardown, promiseCase } from "../../floor.js"
import type { Case } from "../../harness.js"
import { Ours } from "./names.js"

const value = () => 1
const failing = () => {
  throw new Error("boom")
}

const breaker = (make: IBreaker) => circuitBreaker(handleAll, { halfOpenAfter: 60_000, breaker: make })

const consecutive = breaker(new ConsecutiveBreaker(5))
const count = breaker(new CountBreaker({ threshold: 0.5, size: 100, minimumNumberOfCalls: 100 }))
const sampling = breaker(new SamplingBreaker({ threshold: 0.5, duration: 60_000 }))
// Failing calls that never trip: the minimum number of calls is never reached.
const tolerant = breaker(new CountBreaker({ threshold: 0.5, size: 1000, minimumNumberOfCalls: 1000 }))
const isolated = breaker(new ConsecutiveBreaker(5))
const isolation = isolated.isolate()
atTeardown(() => isolation.dispose())

const roomy = bulkhead(25)
// One slot, held for the whole run by a call that only ends at teardown, and no queue.
const full = bulkhead(1, 0)
let release = () => {}
void full.execute(() => new Promise<void>((resolve) => (release = resolve)))
atTeardown(() => release())

/** A native case and the same through `Effect.tryPromise`, both compared with our `ours` case. */
const both = (name: string, run: () => Promise<unknown>, ours: string): Array<Case> => [
  promiseCase(`cockatiel ${name} (native await)`, run, { ours }),
  asyncEffectCase(`cockatiel ${name} (from Effect)`, Effect.tryPromise(run), { ours })
]

export const breakerCases: ReadonlyArray<Case> = [
  ...both("ConsecutiveBreaker, success", () => consecutive.execute(value), Ours.breakerCount),
  ...both("CountBreaker(100), success", () => count.execute(value), Ours.breakerCount),
  ...both("SamplingBreaker(60 s), success", () => sampling.execute(value), Ours.breakerTime)
]

export const failureCases: ReadonlyArray<Case> = [
  ...both("CountBreaker, failure recorded", () => tolerant.execute(failing), Ours.breakerFailure),
  ...both("breaker isolated, refusal", () => isolated.execute(value), Ours.breakerOpen)
]

export const bulkheadCases: ReadonlyArray<Case> = [
  ...both("bulkhead(25), uncontended", () => roomy.execute(value), Ours.bulkhead),
  ...both("bulkhead(1, 0), saturated refusal", () => full.execute(value), Ours.bulkheadFull)
]
