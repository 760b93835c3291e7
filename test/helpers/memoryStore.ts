/**
 * The in-memory `Store` (both halves), for tests of store-shared guards that need no Redis.
 */
import { Effect, Layer } from "effect"
import { makeMemoryCircuitBreakerStore } from "../../src/store/internal/memoryCircuitBreakerStore.js"
import { makeMemoryRateLimiterStore } from "../../src/store/internal/memoryRateLimiterStore.js"
import { type OnStoreFailure, Store } from "../../src/store/Store.js"

export const memoryStore = (onStoreFailure: OnStoreFailure): Layer.Layer<Store> =>
  Layer.effect(
    Store,
    Effect.map(makeMemoryCircuitBreakerStore, (circuitBreaker) =>
      Store.of({ name: "memory", onStoreFailure, rateLimiter: makeMemoryRateLimiterStore(), circuitBreaker }))
  )
