import { CircuitBreaker, Retry } from "breakwater"
import { Effect, Ref } from "effect"

// A typed failure of the dependency: only 5xx are worth retrying.
class UpstreamError {
  readonly _tag = "UpstreamError"
  constructor(readonly status: number) {}
}
// It answers 503 twice, then the quote.
const fetchQuote = (calls: Ref.Ref<number>) =>
  Effect.flatMap(
    Ref.updateAndGet(calls, (n) => n + 1),
    (n) => n < 3 ? Effect.fail(new UpstreamError(503)) : Effect.succeed({ price: 42 })
  )

export const program = Effect.scoped(
  Effect.gen(function*() {
    const calls = yield* Ref.make(0)
    const breaker = yield* CircuitBreaker.make({ name: "quotes" })
    // Outside the breaker, the retry sees the breaker's refusal too: its error type must say so.
    // Typed `Retry.make<UpstreamError>` instead, `Retry.withRetry(retry)` fails to compile: "Type
    // 'CallNotPermittedError | UpstreamError' is not assignable to type 'UpstreamError'. Property
    // 'status' is missing in type 'CallNotPermittedError'".
    const retry = yield* Retry.make<UpstreamError | CircuitBreaker.CallNotPermittedError>({
      name: "quotes",
      maxAttempts: 3,
      waitDuration: "10 millis",
      // Refusals are never retried here (retryRejections is false), so only the upstream's are looked at.
      retryOn: (error) => error._tag === "UpstreamError" && error.status >= 500
    })
    const quote = yield* fetchQuote(calls).pipe(CircuitBreaker.withCircuitBreaker(breaker), Retry.withRetry(retry))
    return { quote, calls: yield* Ref.get(calls) }
  })
)

if (import.meta.url === `file://${process.argv[1]}`) Effect.runPromise(program).then(console.log)
