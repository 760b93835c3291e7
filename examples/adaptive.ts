import { AdaptiveLimiter, AdaptiveThrottler, Hedge, Policy, Retry } from "breakwater"
import { Console, Data, Duration, Effect, Fiber } from "effect"

class Overloaded extends Data.TaggedError("Overloaded") {}

/** A dependency that can serve `capacity` calls at once in 5 ms; beyond that, calls queue inside it. */
const queueingDependency = (capacity: number) => {
  let inFlight = 0
  return Effect.suspend(() => {
    inFlight++
    return Effect.sleep(Duration.millis(5 * Math.max(1, inFlight / capacity))).pipe(
      Effect.ensuring(Effect.sync(() => inFlight--))
    )
  })
}

export const program = Effect.scoped(
  Effect.gen(function*() {
    // 1. An adaptive limiter in front of a dependency with a true capacity of 8, under 32 callers.
    const limiter = yield* AdaptiveLimiter.make({
      name: "search",
      initialLimit: 2,
      windowDuration: "20 millis",
      minWindowSamples: 5,
      maxWaitDuration: Duration.infinity
    })
    const search = AdaptiveLimiter.withAdaptiveLimiter(queueingDependency(8), limiter)
    const callers = yield* Effect.forEach(
      Array.from({ length: 32 }),
      () => Effect.forkScoped(Effect.forever(search)),
      { concurrency: "unbounded" }
    )
    yield* Effect.sleep("400 millis")
    yield* Fiber.interruptAll(callers)
    const limits = yield* limiter.metrics
    yield* Console.log(`adaptive limit after 400 ms: ${limits.limit} (true capacity 8)`, limits)

    // 2. Client-side throttling: the dependency's capacity is a tenth of the offered load.
    let offered = 0
    let delivered = 0
    let accepted = 0
    const quotes = Effect.suspend(() => {
      delivered++
      if (accepted >= (offered + 1) / 10) return Effect.fail(new Overloaded())
      accepted++
      return Effect.succeed(1)
    })
    const throttler = yield* AdaptiveThrottler.make({ name: "quotes" })
    const retry = yield* Retry.make({ name: "quotes", maxAttempts: 2, waitDuration: 0 })
    // Retries go through the throttler too; a locally throttled call is not retried.
    const guardQuotes = Policy.compose(Retry.policy(retry), AdaptiveThrottler.policy(throttler))
    for (; offered < 1000; offered++) yield* Effect.exit(guardQuotes(quotes))
    const throttled = yield* throttler.metrics
    yield* Console.log(`throttler: ${delivered} calls reached the dependency for 1000 requests`, throttled)

    // 3. A hedged read: the first attempt is stuck, the hedge 20 ms later answers.
    const hedge = yield* Hedge.make({ name: "profiles", delay: "20 millis" })
    let attempts = 0
    const profile = Effect.suspend(() =>
      attempts++ === 0 ? Effect.as(Effect.sleep("1 second"), "slow replica") : Effect.succeed("fast replica")
    )
    const answer = yield* profile.pipe(Hedge.withHedge(hedge, { idempotent: true }))
    yield* Console.log(`hedged read answered by the ${answer}`, yield* hedge.metrics)

    return { limit: limits.limit, delivered, accepted, throttled: throttled.throttledCalls, answer }
  })
)

if (import.meta.url === `file://${process.argv[1]}`) Effect.runPromise(program)
