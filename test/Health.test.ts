import { decodeUnknownEffect, forkChild, parseJson } from "#port"
import { itScoped, targetMajor, TestClock, yieldNow } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as Bulkhead from "../src/guards/Bulkhead.js"
import * as RateLimiter from "../src/guards/RateLimiter.js"
import * as Health from "../src/observability/Health.js"
import * as Snapshot from "../src/observability/Snapshot.js"
import * as Registry from "../src/registry/Registry.js"

describe("Health", () => {
  itScoped(
    "UP, DEGRADED when half-open or a limiter refuses, DOWN when a breaker is open; the worst wins",
    () =>
      Effect.gen(function*() {
        const registry = yield* Registry.make()
        const breaker = yield* registry.circuitBreaker("payments", { waitDurationInOpenState: "1 second" })
        const limiter = yield* registry.rateLimiter("partner", { limitForPeriod: 1, timeoutDuration: 0 })
        yield* registry.retry("flaky")
        expect((yield* Health.check(registry)).status).toBe("UP")

        yield* RateLimiter.withRateLimiter(Effect.void, limiter)
        let health = yield* Health.check(registry)
        expect(health.status).toBe("DEGRADED")
        expect(health.components["rateLimiter:partner"]).toEqual({
          status: "DEGRADED",
          kind: "RateLimiter",
          name: "partner",
          details: { availablePermissions: 0, numberOfWaitingFibers: 0 }
        })

        yield* breaker.transitionToOpen
        health = yield* Health.check(registry)
        expect(health.status).toBe("DOWN")
        expect(health.components["circuitBreaker:payments"]!.status).toBe("DOWN")
        expect(health.components["circuitBreaker:payments"]!.details["state"]).toBe("Open")
        expect(health.components["retry:flaky"]!.status).toBe("UP")

        yield* TestClock.adjust("1 second") // the limiter refills
        yield* breaker.transitionToHalfOpen
        health = yield* Health.check(registry)
        expect(health.status).toBe("DEGRADED")
        expect(health.components["rateLimiter:partner"]!.status).toBe("UP")
        yield* breaker.transitionToForcedOpen
        expect((yield* Health.check(registry)).status).toBe("DOWN")
        yield* breaker.transitionToDisabled
        expect((yield* Health.check(registry)).status).toBe("UP")
      })
  )

  itScoped("a full bulkhead is DEGRADED", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ name: "pool", maxConcurrentCalls: 1 })
      const holder = yield* forkChild(Bulkhead.withBulkhead(Effect.never, bulkhead))
      yield* yieldNow
      expect((yield* Health.ofGuard(bulkhead)).status).toBe("DEGRADED")
      yield* Fiber.interrupt(holder)
      expect((yield* Health.ofGuard(bulkhead)).status).toBe("UP")
    }))

  it.effect("round-trips as JSON through its Schema", () =>
    Effect.gen(function*() {
      const health: Health.Health = {
        status: "DOWN",
        components: {
          "circuitBreaker:payments": {
            status: "DOWN",
            kind: "CircuitBreaker",
            name: "payments",
            details: { state: "Open" }
          }
        }
      }
      const json = Health.toJson(health)
      expect(JSON.parse(json)).toEqual(health)
      expect(yield* Health.fromJson(json)).toEqual(health)
      expect(Health.worst("DEGRADED", "UP")).toBe("DEGRADED")
      const bad = yield* Effect.flip(Health.fromJson(`{"status":"SICK","components":{}}`))
      // Each Effect's own Schema error: ParseError in 3, SchemaError in 4.
      expect(bad._tag).toBe(targetMajor === 3 ? "ParseError" : "SchemaError")
    }))
})

describe("Snapshot", () => {
  itScoped("one JSON document with every guard's configuration, state and figures", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("3 seconds")
      const registry = yield* Registry.make({
        circuitBreaker: { configs: { default: { failureRateThreshold: 25, waitDurationInOpenState: "10 seconds" } } }
      })
      const breaker = yield* registry.circuitBreaker("payments")
      const limiter = yield* registry.rateLimiter("partner", { limitForPeriod: 2, timeoutDuration: 0 })
      yield* registry.bulkhead("pool", { maxConcurrentCalls: 4 })
      yield* registry.timeLimiter("slow", { timeoutDuration: "2 seconds" })
      yield* registry.retry("flaky", { maxAttempts: 5 })
      yield* RateLimiter.withRateLimiter(Effect.void, limiter)
      yield* breaker.transitionToOpen
      const snapshot = yield* Snapshot.make(registry)
      expect(snapshot.at).toBe(3000)
      expect(snapshot.status).toBe("DOWN")
      expect(snapshot.guards.map((g) => `${g.kind}/${g.name}/${g.status}`)).toEqual([
        "CircuitBreaker/payments/DOWN",
        "RateLimiter/partner/UP",
        "Bulkhead/pool/UP",
        "TimeLimiter/slow/UP",
        "Retry/flaky/UP"
      ])
      const [cb, rl, bh, tl, rt] = snapshot.guards
      expect(cb!.state).toBe("Open")
      expect(cb!.configuration).toMatchObject({ failureRateThreshold: 25, waitDurationInOpenState: 10_000 })
      expect(cb!.metrics).toMatchObject({ failureRate: -1, notPermittedCallsTotal: 0, successfulCallsTotal: 0 })
      expect(rl!.configuration).toMatchObject({ limitForPeriod: 2, timeoutDuration: 0 })
      expect(rl!.metrics).toMatchObject({ availablePermissions: 1, successfulAcquiresTotal: 1 })
      expect(bh!.configuration).toEqual({ maxConcurrentCalls: 4, maxWaitDuration: 0 })
      expect(tl!.configuration).toEqual({ timeoutDuration: 2000, cancelRunningCall: true })
      expect(rt!.configuration).toMatchObject({ maxAttempts: 5 })
      const json = Snapshot.toJson(snapshot)
      expect(yield* decodeUnknownEffect(parseJson(Snapshot.Snapshot))(json)).toEqual(snapshot)
    }))
})
