/**
 * A guard option set to a `Schedule` shows in `Snapshot`'s configuration as `"<schedule>"` (the timing is
 * code, not a value), on both Effect targets: an Effect 4 `Schedule` is shaped unlike an Effect 3 one.
 */
import { itScoped } from "#test-port"
import { describe, expect } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as RateLimiter from "../src/guards/RateLimiter.js"
import * as Retry from "../src/guards/Retry.js"
import * as Snapshot from "../src/observability/Snapshot.js"

describe("Snapshot: options given as a Schedule", () => {
  itScoped("are shown as \"<schedule>\", durations as milliseconds", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({
        name: "partner",
        limitForPeriod: 10,
        limitRefreshPeriod: Schedule.spaced("1 second")
      })
      const breaker = yield* CircuitBreaker.make({
        name: "payments",
        waitDurationInOpenState: Schedule.exponential("1 second")
      })
      const retry = yield* Retry.make({ name: "search", schedule: Schedule.spaced("100 millis") })
      const timed = yield* RateLimiter.make({ name: "plain", limitForPeriod: 10, limitRefreshPeriod: "2 seconds" })
      const snapshot = yield* Snapshot.ofGuards([limiter, breaker, retry, timed])
      const configuration = (name: string) => snapshot.guards.find((g) => g.name === name)!.configuration
      expect(configuration("partner")["limitRefreshPeriod"]).toBe("<schedule>")
      expect(configuration("payments")["waitDurationInOpenState"]).toBe("<schedule>")
      expect(configuration("search")["schedule"]).toBe("<schedule>")
      expect(configuration("plain")["limitRefreshPeriod"]).toBe(2000)
      expect(JSON.parse(Snapshot.toJson(snapshot)).guards[0].configuration.limitRefreshPeriod).toBe("<schedule>")
    }))
})
