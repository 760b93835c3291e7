/**
 * The full stack Retry(CircuitBreaker(RateLimiter(Bulkhead(call)))), in Resilience4j's order through
 * `Policy.ordered`, with metrics off and on. "Metrics on" is the guards in a Registry watched by a
 * `Metrics` collector that collects (as a Prometheus scrape does) after every timed slice, inside the
 * timing. A third case subscribes to every event of every guard (what a per-call event consumer costs),
 * in fibers beside the calls (hence `runPromise`).
 */
import { bulkhead, circuitBreaker, ConsecutiveBreaker, handleAll, retry, wrap } from "cockatiel"
import { Effect, Fiber, Stream } from "effect"
import { Bulkhead, CircuitBreaker, Policy, RateLimiter, Retry } from "../../src/index.js"
import { asyncEffectCase, atTeardown, Baseline, effectCase, inScope, promiseCase } from "../floor.js"
import type { Case } from "../harness.js"
import { meteredStack } from "../targets/meteredStack.js"

export const Stack = {
  off: "full stack, metrics off",
  offAsync: "full stack, metrics off (runPromise)",
  on: "full stack, metrics on (collected after every slice)",
  events: "full stack, every event subscribed (runPromise)"
} as const

const call = Effect.succeed(1)

const stack = (name: string) =>
  inScope(Effect.gen(function*() {
    const retry = yield* Retry.make({ name, maxAttempts: 3 })
    const breaker = yield* CircuitBreaker.make({ name })
    const limiter = yield* RateLimiter.make({ name, limitForPeriod: 1e12, limitRefreshPeriod: "1 hour" })
    const bulkhead = yield* Bulkhead.make({ name, maxConcurrentCalls: 25 })
    const guard = Policy.ordered({
      retry: Retry.policy(retry),
      circuitBreaker: CircuitBreaker.policy(breaker),
      rateLimiter: RateLimiter.policy(limiter),
      bulkhead: Bulkhead.policy(bulkhead)
    })
    return { guard, events: [retry.events, breaker.events, limiter.events, bulkhead.events] as const }
  }))

const quiet = stack("quiet")
const observed = stack("observed")

const metered = inScope(meteredStack)

const meteredCase = effectCase(Stack.on, metered.guard(call), { baseline: Baseline.floorStack })

let eventsSeen = 0
/** Events the "metrics on" subscribers have received (a check that they really ran). */
export const stackEventsSeen = () => eventsSeen

const subscribers = observed.events.map((events: Stream.Stream<unknown>) =>
  Effect.runFork(Stream.runForEach(events, () => Effect.sync(() => eventsSeen++)))
)
atTeardown(() => Effect.runPromise(Fiber.interruptAll(subscribers)))

// cockatiel has no rate limiter: its closest stack is retry(breaker(bulkhead(call))).
const cockatielStack = wrap(
  retry(handleAll, { maxAttempts: 2 }),
  circuitBreaker(handleAll, { halfOpenAfter: 60_000, breaker: new ConsecutiveBreaker(5) }),
  bulkhead(25)
)
const value = () => 1

export const cases: ReadonlyArray<Case> = [
  effectCase(Stack.off, quiet.guard(call), { baseline: Baseline.floorStack }),
  asyncEffectCase(Stack.offAsync, quiet.guard(call), { baseline: Baseline.floorAsync }),
  {
    ...meteredCase,
    run: (ops) => {
      const done = meteredCase.run(ops)
      metered.collector.unsafeCollect()
      return done
    }
  },
  asyncEffectCase(Stack.events, observed.guard(call), { baseline: Baseline.floorAsync }),
  promiseCase("cockatiel retry(breaker(bulkhead)) (native await)", () => cockatielStack.execute(value), {
    ours: Stack.off
  }),
  asyncEffectCase(
    "cockatiel retry(breaker(bulkhead)) (from Effect)",
    Effect.tryPromise(() => cockatielStack.execute(value)),
    { ours: Stack.off }
  )
]
