import { RateLimiter } from "breakwater"
import * as RedisStore from "breakwater/RedisStore"
import { Effect, Layer } from "effect"

// Redis at REDIS_URL, or on this machine. Without one, the limiters fall back to deciding in process
// (the default `onStoreFailure: "local-fallback"`), log it once, and this program still runs.
const url = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379"
// A fresh prefix per run, so a rerun within the minute starts from an empty count.
const prefix = `breakwater-example-${Date.now()}`

// Two instances of a service, each with its own connection, as two processes would have.
const instance = Effect.gen(function*() {
  const store = yield* Layer.build(RedisStore.layer({ url }, { prefix }))
  return yield* RateLimiter.make({
    name: "partner-api",
    limitForPeriod: 5,
    limitRefreshPeriod: "1 minute",
    timeoutDuration: 0
  }).pipe(Effect.provide(store))
})

export const program = Effect.scoped(
  Effect.gen(function*() {
    const a = yield* instance
    const b = yield* instance
    let granted = 0
    for (let i = 0; i < 8; i++) {
      if (yield* a.tryAcquire()) granted++
      if (yield* b.tryAcquire()) granted++
    }
    const { storeUnavailableCalls = 0 } = yield* a.metrics
    // With Redis: 5 granted between the two instances (one limit for the fleet). Without: 5 each.
    return { shared: storeUnavailableCalls === 0, granted }
  })
)
