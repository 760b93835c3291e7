// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the ports.
import { forkChild, scopeProvide, type SeriesSnapshot, viewSeries } from "#port"
import { TestClock } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Scope } from "effect"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as RateLimiter from "../src/guards/RateLimiter.js"
import * as Retry from "../src/guards/Retry.js"
import * as TimeLimiter from "../src/guards/TimeLimiter.js"
import * as Metrics from "../src/observability/Metrics.js"
import * as Prometheus from "../src/observability/Prometheus.js"
import * as Registry from "../src/registry/Registry.js"

/** The value of one series in a text exposition, or undefined. */
const valueOf = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

const Live = (prefix: string) =>
  Prometheus.layer().pipe(Layer.provideMerge(Metrics.layer({ prefix })), Layer.provideMerge(Registry.layer()))

describe("Prometheus", () => {
  it.effect("scrapes names, labels and values after a scripted scenario", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.Registry
      const breaker = yield* registry.circuitBreaker("payments", {
        slidingWindowSize: 4,
        minimumNumberOfCalls: 4,
        waitDurationInOpenState: "10 seconds"
      })
      const limiter = yield* registry.rateLimiter("partner", {
        limitForPeriod: 2,
        limitRefreshPeriod: "1 second",
        timeoutDuration: 0
      })
      // Two slow successes (300 ms), two failures: 50% failed, the breaker opens.
      const slow = Effect.andThen(Effect.sleep("300 millis"), Effect.succeed(1))
      for (let i = 0; i < 2; i++) {
        const fiber = yield* forkChild(CircuitBreaker.withCircuitBreaker(slow, breaker))
        yield* TestClock.adjust("300 millis")
        yield* Fiber.await(fiber)
      }
      yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.fail("boom"), breaker))
      let text = yield* Prometheus.scrape
      expect(valueOf(text, `r4j_circuitbreaker_state{name="payments",state="closed"}`)).toBe(1)
      yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.fail("boom"), breaker))
      // Refused while Open.
      const refused = yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.succeed(1), breaker))
      expect(Exit.isFailure(refused)).toBe(true)
      // The limiter: two permits, the third refused.
      for (let i = 0; i < 3; i++) yield* Effect.exit(RateLimiter.withRateLimiter(Effect.void, limiter))

      text = yield* Prometheus.scrape
      expect(valueOf(text, `r4j_circuitbreaker_state{name="payments",state="open"}`)).toBe(1)
      expect(valueOf(text, `r4j_circuitbreaker_state{name="payments",state="closed"}`)).toBe(0)
      expect(text).toContain("# TYPE r4j_circuitbreaker_state gauge")
      expect(valueOf(text, `r4j_circuitbreaker_failure_rate{name="payments"}`)).toBe(50)
      expect(valueOf(text, `r4j_circuitbreaker_buffered_calls{name="payments",kind="failed"}`)).toBe(2)
      expect(valueOf(text, `r4j_circuitbreaker_buffered_calls{name="payments",kind="successful"}`)).toBe(2)
      expect(valueOf(text, `r4j_circuitbreaker_not_permitted_calls_total{name="payments"}`)).toBe(1)
      expect(text).toContain("# TYPE r4j_circuitbreaker_not_permitted_calls_total counter")
      expect(text).toContain("# TYPE r4j_circuitbreaker_calls_seconds histogram")
      expect(valueOf(text, `r4j_circuitbreaker_calls_seconds_count{name="payments",kind="successful"}`)).toBe(2)
      expect(valueOf(text, `r4j_circuitbreaker_calls_seconds_sum{name="payments",kind="successful"}`)).toBeCloseTo(0.6)
      expect(valueOf(text, `r4j_circuitbreaker_calls_seconds_count{name="payments",kind="failed"}`)).toBe(2)
      expect(valueOf(text, `r4j_circuitbreaker_calls_seconds_bucket{name="payments",kind="successful",le="0.25"}`))
        .toBe(0)
      expect(valueOf(text, `r4j_circuitbreaker_calls_seconds_bucket{name="payments",kind="successful",le="0.5"}`))
        .toBe(2)
      expect(valueOf(text, `r4j_ratelimiter_calls_total{name="partner",kind="successful"}`)).toBe(2)
      expect(valueOf(text, `r4j_ratelimiter_calls_total{name="partner",kind="failed"}`)).toBe(1)
      expect(valueOf(text, `r4j_ratelimiter_available_permissions{name="partner"}`)).toBe(0)
      expect(valueOf(text, `r4j_ratelimiter_waiting_threads{name="partner"}`)).toBe(0)

      // Time passes: the limiter refills and the breaker, asked again, turns HalfOpen.
      yield* TestClock.adjust("10 seconds")
      yield* Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.succeed(1), breaker))
      text = yield* Prometheus.scrape
      expect(valueOf(text, `r4j_circuitbreaker_state{name="payments",state="half_open"}`)).toBe(1)
      expect(valueOf(text, `r4j_ratelimiter_available_permissions{name="partner"}`)).toBe(2)
      // Counters only grow; a second scrape adds nothing twice.
      expect(valueOf(text, `r4j_circuitbreaker_calls_seconds_count{name="payments",kind="successful"}`)).toBe(3)
      expect(valueOf(text, `r4j_ratelimiter_calls_total{name="partner",kind="successful"}`)).toBe(2)
    }).pipe(Effect.provide(Live("r4j"))))

  it.effect("covers bulkheads, time limiters and retries with the default prefix", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.Registry
      yield* registry.bulkhead("pool", { maxConcurrentCalls: 3 })
      const retry = yield* registry.retry("flaky", { maxAttempts: 2, waitDuration: 0 })
      const limiter = yield* registry.timeLimiter("slowpoke", { timeoutDuration: "1 second" })
      yield* Effect.exit(Retry.withRetry(Effect.fail("boom"), retry))
      const fiber = yield* forkChild(TimeLimiter.withTimeLimiter(Effect.never, limiter))
      yield* TestClock.adjust("1 second")
      yield* Fiber.await(fiber)
      yield* TimeLimiter.withTimeLimiter(Effect.void, limiter)
      const text = yield* Prometheus.scrape
      expect(valueOf(text, `breakwater_bulkhead_available_concurrent_calls{name="pool"}`)).toBe(3)
      expect(valueOf(text, `breakwater_bulkhead_max_allowed_concurrent_calls{name="pool"}`)).toBe(3)
      expect(valueOf(text, `breakwater_retry_calls_total{name="flaky",kind="failed_with_retry"}`)).toBe(1)
      expect(valueOf(text, `breakwater_retry_calls_total{name="flaky",kind="successful_without_retry"}`)).toBe(0)
      expect(valueOf(text, `breakwater_timelimiter_calls_total{name="slowpoke",kind="timeout"}`)).toBe(1)
      expect(valueOf(text, `breakwater_timelimiter_calls_total{name="slowpoke",kind="successful"}`)).toBe(1)
    }).pipe(Effect.provide(Live("breakwater"))))

  it.effect("a tracked guard's series leave the exposition and collector.series when its scope closes", () =>
    Effect.gen(function*() {
      const collector = yield* Metrics.Collector
      const scope = yield* Scope.make()
      const breaker = yield* scopeProvide(CircuitBreaker.make({ name: "short-lived" }), scope)
      yield* scopeProvide(collector.track(breaker), scope)
      yield* CircuitBreaker.withCircuitBreaker(Effect.void, breaker)
      let text = yield* Prometheus.scrape
      expect(valueOf(text, `breakwater_circuitbreaker_state{name="short-lived",state="closed"}`)).toBe(1)
      const named = (series: ReadonlyArray<SeriesSnapshot>) =>
        series.filter((s) => viewSeries(s).labels.some(([key, value]) => key === "name" && value === "short-lived"))
      expect(named(yield* collector.series).length).toBeGreaterThan(10)
      yield* Scope.close(scope, Exit.void)
      text = yield* Prometheus.scrape
      expect(text).not.toContain("short-lived")
      expect(named(yield* collector.series)).toEqual([])
    }).pipe(Effect.provide(Live("breakwater"))))
})
