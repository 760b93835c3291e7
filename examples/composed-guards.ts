import { Bulkhead, CircuitBreaker, Policy, RateLimiter, Retry, RetryBudget } from "breakwater"
import { Console, Effect } from "effect"

export const program = Effect.scoped(
  Effect.gen(function*() {
    // A dependency that fails two calls in three.
    let calls = 0
    const inventory = Effect.suspend(() => ++calls % 3 === 0 ? Effect.succeed("in stock") : Effect.fail("503" as const))

    const budget = yield* RetryBudget.make({ name: "inventory", minRetriesPerSecond: 1, percentCanRetry: 0.2 })
    const retry = yield* Retry.make({ name: "inventory", maxAttempts: 3, waitDuration: 0, budget })
    const breaker = yield* CircuitBreaker.make({ name: "inventory", slidingWindowSize: 20, minimumNumberOfCalls: 20 })
    const limiter = yield* RateLimiter.make({
      name: "inventory",
      limitForPeriod: 40,
      limitRefreshPeriod: "1 minute",
      timeoutDuration: 0
    })
    const bulkhead = yield* Bulkhead.make({ name: "inventory", maxConcurrentCalls: 5 })

    // Retry(CircuitBreaker(RateLimiter(Bulkhead(call)))): every attempt passes every guard.
    const guard = Policy.ordered({
      retry: Retry.policy(retry),
      circuitBreaker: CircuitBreaker.policy(breaker),
      rateLimiter: RateLimiter.policy(limiter),
      bulkhead: Bulkhead.policy(bulkhead)
    })

    const outcomes: Record<string, number> = {}
    for (let i = 0; i < 30; i++) {
      const outcome = yield* guard(inventory).pipe(
        Effect.match({
          onSuccess: () => "ok",
          onFailure: (error) => typeof error === "string" ? `dependency ${error}` : error._tag
        })
      )
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
    }
    yield* Console.log(`30 requests, ${calls} calls reached the dependency:`, outcomes)
    yield* Console.log(`breaker ${yield* breaker.state}, retry budget`, yield* budget.metrics)
    return { requests: 30, dependencyCalls: calls, outcomes, breaker: yield* breaker.state }
  })
)

if (import.meta.url === `file://${process.argv[1]}`) Effect.runPromise(program)
