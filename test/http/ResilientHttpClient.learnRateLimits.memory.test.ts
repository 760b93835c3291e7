/**
 * `learnRateLimits` through the in-memory store, under TestClock: two clients share one `Store`; an
 * in-process upstream (an `HttpClient.make`, counting on the same Clock) enforces and announces its quota.
 */
import { HttpClient, HttpClientResponse } from "#port/httpClient"
import { itScoped, TestClock } from "#test-port"
import { describe, expect } from "@effect/vitest"
import { Clock, Effect, Layer } from "effect"
import * as ResilientHttpClient from "../../src/http/ResilientHttpClient.js"
import { memoryStore } from "../helpers/memoryStore.js"

/** 3 calls per 60 s window (windows aligned to 0), announced with `RateLimit` / `RateLimit-Policy`. */
const upstream = () => {
  const counts = { served: 0, throttled: 0 }
  const perWindow = new Map<number, number>()
  const client = HttpClient.make((request) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const window = Math.floor(now / 60_000)
      const used = perWindow.get(window) ?? 0
      const reset = Math.ceil(((window + 1) * 60_000 - now) / 1_000)
      if (used >= 3) {
        counts.throttled++
        return HttpClientResponse.fromWeb(request, new Response("slow down", { status: 429 }))
      }
      perWindow.set(window, used + 1)
      counts.served++
      return HttpClientResponse.fromWeb(
        request,
        new Response("{}", {
          status: 200,
          headers: { "ratelimit-policy": `"default";q=3;w=60`, ratelimit: `"default";r=${2 - used};t=${reset}` }
        })
      )
    })
  )
  return { client, counts }
}

const MemoryStore = memoryStore("fail-open")

const options: ResilientHttpClient.Options = {
  name: "partner",
  learnRateLimits: true,
  rateLimiter: { limitForPeriod: 1_000, limitRefreshPeriod: "1 second", timeoutDuration: 0 },
  circuitBreaker: false,
  retry: false
}

const outcome = <E>(call: Effect.Effect<{ readonly status: number }, E>) =>
  Effect.match(call, {
    onSuccess: (response): number | string => response.status,
    onFailure: (error) => (error as { _tag: string })._tag
  })

describe("learnRateLimits through the memory store (TestClock)", () => {
  itScoped(
    "the second client is refused at the quota the first learned, and follows the policy after the reset",
    () =>
      Effect.gen(function*() {
        const { client: base, counts } = upstream()
        const store = yield* Layer.build(MemoryStore)
        const [a, b] = yield* Effect.provide(
          Effect.all([ResilientHttpClient.make(options), ResilientHttpClient.make(options)]),
          store
        )
        const first = ResilientHttpClient.wrap(base, a)
        const second = ResilientHttpClient.wrap(base, b)
        const get = (client: typeof first) => Effect.provide(outcome(client.get("http://partner.test/x")), store)

        expect(yield* get(first)).toBe(200) // learns "2 left, reset in 60 s"
        expect([yield* get(second), yield* get(second), yield* get(second), yield* get(first)]).toEqual([
          200,
          200,
          "RequestNotPermittedError",
          "RequestNotPermittedError"
        ])
        expect(counts).toEqual({ served: 3, throttled: 0 })

        // The reset: the next window at the announced policy (3 per 60 s), shared by both clients.
        yield* TestClock.adjust("60 seconds")
        const next = [yield* get(second), yield* get(first), yield* get(second), yield* get(first)]
        expect(next).toEqual([200, 200, 200, "RequestNotPermittedError"])
        expect(counts).toEqual({ served: 6, throttled: 0 })
      })
  )
})
