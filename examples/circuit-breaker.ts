import { CircuitBreaker } from "breakwater"
import { Console, Effect } from "effect"

// A payment provider that has started to fail.
class PaymentError {
  readonly _tag = "PaymentError"
  constructor(readonly status: number) {}
}
const chargeCard = (amount: number) =>
  amount > 0 ? Effect.fail(new PaymentError(503)) : Effect.succeed({ charged: amount })

export const program = Effect.scoped(
  Effect.gen(function*() {
    const breaker = yield* CircuitBreaker.make({
      name: "payments",
      failureRateThreshold: 50,
      slidingWindowSize: 10,
      minimumNumberOfCalls: 5,
      waitDurationInOpenState: "30 seconds"
    })

    // Five failures in a row: the failure rate reaches 100% and the breaker opens.
    for (let i = 0; i < 5; i++) {
      yield* chargeCard(10).pipe(CircuitBreaker.withCircuitBreaker(breaker), Effect.ignore)
    }

    // While open, calls fail fast with a tagged error and never reach the provider.
    const answer = yield* chargeCard(10).pipe(
      CircuitBreaker.withCircuitBreaker(breaker),
      Effect.catchTags({
        PaymentError: (e) => Effect.succeed(`provider said ${e.status}`),
        CallNotPermittedError: (e) => Effect.succeed(`refused fast: ${e.message}`)
      })
    )
    yield* Console.log(answer)

    const metrics = yield* breaker.metrics
    yield* Console.log(`state ${yield* breaker.state}, failure rate ${metrics.failureRate}%`)
    return { state: yield* breaker.state, failureRate: metrics.failureRate, answer }
  })
)

if (import.meta.url === `file://${process.argv[1]}`) Effect.runPromise(program)
