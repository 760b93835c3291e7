/**
 * Quotas learned from an upstream's headers (`RateLimiter.learn`), in process and shared through the
 * in-memory store, under TestClock.
 */
import { failureOf } from "#port"
import { itScoped, TestClock } from "#test-port"
import { describe, expect } from "@effect/vitest"
import { Duration, Effect, Exit, Layer, Option } from "effect"
import * as RateLimiter from "../src/guards/RateLimiter.js"
import * as Snapshot from "../src/observability/Snapshot.js"
import { makeMemoryCircuitBreakerStore } from "../src/store/internal/memoryCircuitBreakerStore.js"
import { makeMemoryRateLimiterStore } from "../src/store/internal/memoryRateLimiterStore.js"
import { Store, StoreError } from "../src/store/Store.js"
import { memoryStore } from "./helpers/memoryStore.js"

const generous = { limitForPeriod: 1_000, limitRefreshPeriod: "1 second", timeoutDuration: 0 } as const

const retryAfterOf = (exit: Exit.Exit<void, RateLimiter.RequestNotPermittedError>): number | undefined =>
  Exit.isFailure(exit)
    ? Option.getOrUndefined(
      Option.flatMap(failureOf(exit.cause), (error) => Option.map(error.retryAfter, Duration.toMillis))
    )
    : undefined

const MemoryStore = memoryStore("fail-open")

describe("RateLimiter.learn (in process)", () => {
  itScoped(
    "admits `remaining` calls until the reset, then one window at the policy, then its own limit",
    () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "upstream", ...generous })
        yield* RateLimiter.learn(limiter, { remaining: 2, resetAfterMillis: 10_000, limit: 3, windowMillis: 20_000 })
        expect(Exit.isSuccess(yield* Effect.exit(limiter.acquire()))).toBe(true)
        expect(yield* limiter.tryAcquire()).toBe(true)
        const refused = yield* Effect.exit(limiter.acquire())
        expect(retryAfterOf(refused)).toBe(10_000) // the time to the reset, never a wait
        expect(yield* limiter.tryAcquire()).toBe(false)
        expect(yield* RateLimiter.learnedQuota(limiter)).toEqual(Option.some({ remaining: 0, resetAt: 10_000 }))

        yield* TestClock.adjust("10 seconds") // reset: one window of 3 per 20 s
        for (let i = 0; i < 3; i++) expect(yield* limiter.tryAcquire()).toBe(true)
        expect(retryAfterOf(yield* Effect.exit(limiter.acquire()))).toBe(20_000)

        yield* TestClock.adjust("20 seconds") // past the renewed window: the configured limit alone
        for (let i = 0; i < 10; i++) expect(yield* limiter.tryAcquire()).toBe(true)
        expect(yield* RateLimiter.learnedQuota(limiter)).toEqual(Option.none())
      })
  )

  itScoped(
    "two lessons for the same reset keep the lower count; a later reset replaces it",
    () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({ name: "ordered", ...generous })
        yield* RateLimiter.learn(limiter, { remaining: 1, resetAfterMillis: 60_000 })
        // A stale answer (sent earlier, arrived later) must not hand back calls already spent.
        yield* RateLimiter.learn(limiter, { remaining: 5, resetAfterMillis: 59_500 })
        expect(yield* limiter.tryAcquire()).toBe(true)
        expect(yield* limiter.tryAcquire()).toBe(false)
        yield* RateLimiter.learn(limiter, { remaining: 2, resetAfterMillis: 120_000 })
        expect(yield* limiter.tryAcquire()).toBe(true)
        expect(yield* limiter.tryAcquire()).toBe(true)
        expect(yield* limiter.tryAcquire()).toBe(false)
      })
  )

  itScoped("absurd announcements are capped or ignored", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ name: "absurd", ...generous })
      // A reset a year away is taken as one day.
      yield* RateLimiter.learn(limiter, { remaining: 0, resetAfterMillis: 365 * 86_400_000 })
      expect(retryAfterOf(yield* Effect.exit(limiter.acquire()))).toBe(86_400_000)
      yield* TestClock.adjust("1 day")
      expect(yield* limiter.tryAcquire()).toBe(true)
      // A quota that resets at once, or negative / non-finite figures, teach nothing.
      yield* RateLimiter.learn(limiter, { remaining: 0, resetAfterMillis: 0 })
      yield* RateLimiter.learn(limiter, { remaining: -3, resetAfterMillis: 1_000 })
      yield* RateLimiter.learn(limiter, { remaining: Number.NaN, resetAfterMillis: 1_000 })
      expect(yield* limiter.tryAcquire()).toBe(true)
      expect(yield* RateLimiter.learnedQuota(limiter)).toEqual(Option.none())
      // A count past 10^9 is taken as 10^9.
      yield* RateLimiter.learn(limiter, { remaining: 1e15, resetAfterMillis: 1_000 })
      expect(Option.map(yield* RateLimiter.learnedQuota(limiter), (q) => q.remaining)).toEqual(
        Option.some(1_000_000_000)
      )
    }))

  itScoped("Snapshot shows the learned quota", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ name: "shown", ...generous })
      yield* RateLimiter.learn(limiter, { remaining: 3, resetAfterMillis: 5_000 })
      yield* limiter.acquire()
      const snapshot = yield* Snapshot.ofGuards([limiter])
      expect(snapshot.guards[0]!.metrics).toMatchObject({ learnedRemaining: 2, learnedResetAfterMillis: 5_000 })
      yield* TestClock.adjust("5 seconds")
      const later = yield* Snapshot.ofGuards([limiter])
      expect(later.guards[0]!.metrics["learnedRemaining"]).toBeUndefined()
    }))
})

describe("RateLimiter.learn (shared through the memory store)", () => {
  itScoped("a quota one instance learned holds back another that never saw the upstream", () =>
    Effect.gen(function*() {
      const [first, second] = yield* Effect.all([
        RateLimiter.make({ name: "fleet", ...generous }),
        RateLimiter.make({ name: "fleet", ...generous })
      ]).pipe(Effect.provide(MemoryStore))
      RateLimiter.learnFromUpstream(second)
      yield* RateLimiter.learn(first, { remaining: 3, resetAfterMillis: 30_000 })
      expect(yield* second.tryAcquire()).toBe(true)
      expect(yield* first.tryAcquire()).toBe(true)
      expect(Exit.isSuccess(yield* Effect.exit(second.acquire()))).toBe(true)
      expect(retryAfterOf(yield* Effect.exit(second.acquire()))).toBe(30_000)
      expect(yield* first.tryAcquire()).toBe(false)
      expect(yield* RateLimiter.learnedQuota(second)).toEqual(Option.some({ remaining: 0, resetAt: 30_000 }))
      yield* TestClock.adjust("30 seconds")
      expect(yield* second.tryAcquire()).toBe(true)
    }))

  itScoped(
    "a limiter that neither learned nor was told to stays on its own limit (no extra store call)",
    () =>
      Effect.gen(function*() {
        const [first, second] = yield* Effect.all([
          RateLimiter.make({ name: "aloof", ...generous }),
          RateLimiter.make({ name: "aloof", ...generous })
        ]).pipe(Effect.provide(MemoryStore))
        yield* RateLimiter.learn(first, { remaining: 0, resetAfterMillis: 30_000 })
        expect(yield* second.tryAcquire()).toBe(true)
        expect(yield* first.tryAcquire()).toBe(false)
      })
  )

  itScoped(
    "a store that cannot keep quotas (no learn/takeLearned): each instance keeps what it learned",
    () =>
      Effect.gen(function*() {
        const { learn: _learn, takeLearned: _take, ...plain } = makeMemoryRateLimiterStore()
        const PlainStore = Layer.effect(
          Store,
          Effect.map(
            makeMemoryCircuitBreakerStore,
            (circuitBreaker) =>
              Store.of({ name: "plain", onStoreFailure: "fail-open", rateLimiter: plain, circuitBreaker })
          )
        )
        const [first, second] = yield* Effect.all([
          RateLimiter.make({ name: "plain", ...generous }),
          RateLimiter.make({ name: "plain", ...generous })
        ]).pipe(Effect.provide(PlainStore))
        RateLimiter.learnFromUpstream(second)
        yield* RateLimiter.learn(first, { remaining: 1, resetAfterMillis: 10_000 })
        expect(yield* first.tryAcquire()).toBe(true)
        expect(retryAfterOf(yield* Effect.exit(first.acquire()))).toBe(10_000)
        expect(yield* second.tryAcquire()).toBe(true) // nothing shared: the second never learned
        expect(Option.isSome(yield* RateLimiter.learnedQuota(first))).toBe(true)
      })
  )

  itScoped("a store that fails to keep or read the quota loses only the lesson", () =>
    Effect.gen(function*() {
      const failing = {
        ...makeMemoryRateLimiterStore(),
        learn: () => Effect.fail(new StoreError({ store: "flaky", operation: "learn", key: "flaky", cause: "down" })),
        takeLearned: () =>
          Effect.fail(new StoreError({ store: "flaky", operation: "takeLearned", key: "flaky", cause: "down" }))
      }
      const FlakyStore = Layer.effect(
        Store,
        Effect.map(makeMemoryCircuitBreakerStore, (circuitBreaker) =>
          Store.of({ name: "flaky", onStoreFailure: "fail-open", rateLimiter: failing, circuitBreaker }))
      )
      const limiter = yield* RateLimiter.make({ name: "flaky", ...generous }).pipe(Effect.provide(FlakyStore))
      yield* RateLimiter.learn(limiter, { remaining: 0, resetAfterMillis: 10_000 })
      expect(yield* limiter.tryAcquire()).toBe(true)
      expect(Exit.isSuccess(yield* Effect.exit(limiter.acquire()))).toBe(true)
      expect(yield* RateLimiter.learnedQuota(limiter)).toEqual(Option.none())
    }))
})
