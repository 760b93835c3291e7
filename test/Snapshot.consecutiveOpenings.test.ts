/** A breaker's `consecutiveOpenings` (its open-wait backoff count) shows in `Snapshot`, under TestClock. */
import { describe, expect } from "@effect/vitest"
import { Effect } from "effect"
// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the test port.
import { itScoped, TestClock } from "#test-port"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as Snapshot from "../src/observability/Snapshot.js"

describe("Snapshot: consecutiveOpenings", () => {
  itScoped("counts openings in a row (a failed trial reopens), back to 0 once closed", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make<string, string>({
        name: "backoff",
        slidingWindowSize: 1,
        minimumNumberOfCalls: 1,
        permittedNumberOfCallsInHalfOpenState: 1,
        waitDurationInOpenState: "1 second"
      })
      const call = (ok: boolean) =>
        Effect.exit(CircuitBreaker.withCircuitBreaker(ok ? Effect.succeed("ok") : Effect.fail("down"), breaker))
      const openings = Effect.map(Snapshot.ofGuards([breaker]), (s) => s.guards[0]!.metrics["consecutiveOpenings"])
      expect(yield* openings).toBe(0)
      yield* call(false)
      expect(yield* openings).toBe(1)
      yield* TestClock.adjust("1 second")
      yield* call(false) // the half-open trial fails
      expect(yield* openings).toBe(2)
      yield* TestClock.adjust("10 seconds")
      yield* call(true)
      const snapshot = yield* Snapshot.ofGuards([breaker])
      expect(snapshot.guards[0]!.state).toBe("Closed")
      expect(snapshot.guards[0]!.metrics["consecutiveOpenings"]).toBe(0)
      // It survives the JSON the dashboard and /health read.
      expect(JSON.parse(Snapshot.toJson(snapshot)).guards[0].metrics.consecutiveOpenings).toBe(0)
    }))
})
