/**
 * The four-guard stack with metrics on: Retry(CircuitBreaker(RateLimiter(Bulkhead))) in Resilience4j's
 * order, the guards in a Registry watched by a Metrics collector (the case collects after every timed
 * slice, as a scrape would, inside the timing). Imports only `effect` and breakwater's root, so the main
 * table (bench/cases/stack.ts) and each target build (guardCases.ts) make the same stack.
 */
import { Effect } from "effect"
import { Bulkhead, CircuitBreaker, Metrics, Policy, RateLimiter, Registry, Retry } from "../../src/index.js"

export const meteredStack = Effect.gen(function*() {
  const registry = yield* Registry.make()
  const collector = yield* Metrics.make({ registry, prefix: "bench_stack" })
  const guard = Policy.ordered({
    retry: Retry.policy(yield* registry.retry("metered", { maxAttempts: 3 })),
    circuitBreaker: CircuitBreaker.policy(yield* registry.circuitBreaker("metered")),
    rateLimiter: RateLimiter.policy(
      yield* registry.rateLimiter("metered", { limitForPeriod: 1e12, limitRefreshPeriod: "1 hour" })
    ),
    bulkhead: Bulkhead.policy(yield* registry.bulkhead("metered", { maxConcurrentCalls: 25 }))
  })
  return { guard, collector }
})
