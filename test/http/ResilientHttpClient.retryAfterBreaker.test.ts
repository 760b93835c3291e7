/**
 * A failing response's `Retry-After` lengthens the open time of the target's breaker (as Effect 4's
 * `HttpClient.withCircuitBreaker`), capped at the client's `maxRetryAfter`. Real sockets and the REAL
 * clock: `Retry-After` cannot say less than 1 s, so these tests wait about that long, bounded.
 */
import { itScopedLive } from "#test-port"
import { realClient } from "#test-port/http"
import { describe, expect } from "@effect/vitest"
import { Effect } from "effect"
import * as ResilientHttpClient from "../../src/http/ResilientHttpClient.js"
import { answering } from "./dependency.js"

const clientWith = (options: ResilientHttpClient.Options) =>
  Effect.gen(function*() {
    const resilience = yield* ResilientHttpClient.make(options)
    const base = yield* realClient
    return { resilience, client: ResilientHttpClient.wrap(base, resilience) }
  })

/** Opens on the first failure; moves to HalfOpen by itself once the open wait is over. */
const breaker = {
  slidingWindowSize: 1,
  minimumNumberOfCalls: 1,
  waitDurationInOpenState: "50 millis",
  automaticTransitionFromOpenToHalfOpenEnabled: true
} as const

const stateOf = (resilience: ResilientHttpClient.ResilientHttpClient) =>
  Effect.map(resilience.snapshot, (s) => s.targets[0]!.circuitState)

describe("ResilientHttpClient: Retry-After keeps the breaker open", () => {
  itScopedLive("a 503 with Retry-After: 1 keeps the breaker open 1 s, not its 50 ms", () =>
    Effect.gen(function*() {
      const url = yield* answering(503, "down", { "retry-after": "1" })
      const { client, resilience } = yield* clientWith({ name: "hinted", circuitBreaker: breaker, retry: false })
      expect((yield* client.get(url)).status).toBe(503)
      expect(yield* stateOf(resilience)).toBe("Open")
      yield* Effect.sleep("300 millis") // six times the configured wait: without the hint, HalfOpen by now
      expect(yield* stateOf(resilience)).toBe("Open")
      yield* Effect.sleep("900 millis")
      expect(yield* stateOf(resilience)).toBe("HalfOpen")
    }))

  itScopedLive("the hint is capped at the client's maxRetryAfter", () =>
    Effect.gen(function*() {
      const url = yield* answering(503, "down", { "retry-after": "3600" })
      const { client, resilience } = yield* clientWith({
        name: "capped",
        circuitBreaker: breaker,
        retry: false,
        maxRetryAfter: "200 millis"
      })
      expect((yield* client.get(url)).status).toBe(503)
      expect(yield* stateOf(resilience)).toBe("Open")
      yield* Effect.sleep("500 millis")
      expect(yield* stateOf(resilience)).toBe("HalfOpen")
    }))

  itScopedLive("a 500 without Retry-After opens for the configured wait only", () =>
    Effect.gen(function*() {
      const url = yield* answering(500, "boom")
      const { client, resilience } = yield* clientWith({ name: "plain", circuitBreaker: breaker, retry: false })
      expect((yield* client.get(url)).status).toBe(500)
      yield* Effect.sleep("300 millis")
      expect(yield* stateOf(resilience)).toBe("HalfOpen")
    }))
})
