/**
 * Traffic for the series the demo does not produce by itself: an inbound `RateLimitMiddleware` (its
 * latency, response codes and 429 refusals) and an HTTP client that knows its undici dispatcher (its
 * connection-pool gauges). A `ResilientHttpClient` named "edge" calls, through its own pool, a server
 * behind a policy named "edge" that lets 10 requests a second through, about half of what it is sent;
 * every tenth answer is slower than the client waits, so the client also counts timeouts.
 * Everything lives in the caller's scope; the metrics are Effect's global ones and the registered
 * HTTP series, so they appear on every `/metrics` of the process, the demo's included.
 */
import { HttpServerResponse } from "@effect/platform"
import { NodeHttpClient, Undici } from "@effect/platform-node"
import * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
import { Effect, Schedule, type Scope } from "effect"
import { serve } from "../http/servers.js"

export const policyName = "edge"
export const clientName = "edge"

/** Starts the edge server and a client calling it every `everyMillis` until the scope closes. */
export const start = (everyMillis = 50): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const policy = yield* RateLimitMiddleware.make({
      name: policyName,
      limitForPeriod: 10,
      limitRefreshPeriod: "1 second"
    })
    let requests = 0
    const answer = Effect.suspend(() =>
      ++requests % 10 === 0
        ? Effect.as(Effect.sleep("300 millis"), HttpServerResponse.text("late"))
        : Effect.succeed(HttpServerResponse.text("hello"))
    )
    const url = yield* serve(answer, policy)
    const agent = yield* Effect.acquireRelease(
      Effect.sync(() => new Undici.Agent({ keepAliveTimeout: 10_000, connections: 4 })),
      (agent) => Effect.promise(() => agent.destroy())
    )
    const resilience = yield* ResilientHttpClient.make({
      name: clientName,
      dispatcher: agent,
      poolMetricsInterval: "500 millis",
      retry: false,
      circuitBreaker: false,
      attemptTimeout: "100 millis"
    })
    const client = ResilientHttpClient.wrap(NodeHttpClient.makeUndici(agent), resilience)
    const call = Effect.scoped(Effect.flatMap(client.get(`${url}/hello`), (response) => response.text))
    yield* Effect.forkScoped(Effect.repeat(Effect.ignore(call), Schedule.spaced(everyMillis)))
  }).pipe(Effect.orDie) // constant options and a loopback server: a failure here is a bug
