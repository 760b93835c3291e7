/**
 * Traffic for the series the demo does not produce by itself: an inbound `RateLimitMiddleware` (its
 * latency, response codes, 429 refusals and live keys) and an HTTP client that knows its undici
 * dispatcher (its connection-pool gauges, and "pool exhausted" refusals where the client has
 * `poolQueueLimit`).
 *
 * One `ResilientHttpClient` named "edge", 2 connections per origin, calls two loopback servers:
 * - "hello", behind a policy named "edge" that lets 5 requests a second through (it is sent about
 *   10 to 20); every twentieth answer comes after the client's 1 s attempt timeout, so timeouts are
 *   counted too;
 * - "stall", which answers after 500 ms, called by 4 loops at once: both connections busy, requests
 *   queued behind them, and past `poolQueueLimit: 1` calls refused as pool exhausted.
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

/** Whether the client can refuse calls past a pool queue limit (`poolQueueLimit`, issue 16). */
export const hasPoolQueueLimit = "PoolExhaustedError" in ResilientHttpClient

/** Starts the servers and the client's loops, until the scope closes. */
export const start: Effect.Effect<void, never, Scope.Scope> = Effect.gen(function*() {
  const policy = yield* RateLimitMiddleware.make({
    name: policyName,
    limitForPeriod: 5,
    limitRefreshPeriod: "1 second"
  })
  let requests = 0
  const hello = Effect.suspend(() =>
    ++requests % 20 === 0
      ? Effect.as(Effect.sleep("1500 millis"), HttpServerResponse.text("late"))
      : Effect.succeed(HttpServerResponse.text("hello"))
  )
  const helloUrl = yield* serve(hello, policy)
  const stallUrl = yield* serve(Effect.as(Effect.sleep("500 millis"), HttpServerResponse.text("slow")))
  const agent = yield* Effect.acquireRelease(
    Effect.sync(() => new Undici.Agent({ keepAliveTimeout: 10_000, connections: 2 })),
    (agent) => Effect.promise(() => agent.destroy())
  )
  const resilience = yield* ResilientHttpClient.make({
    name: clientName,
    dispatcher: agent,
    poolMetricsInterval: "250 millis",
    retry: false,
    circuitBreaker: false,
    attemptTimeout: "1 second",
    // Only where the option exists: elsewhere an unknown option is refused.
    ...(hasPoolQueueLimit ? { poolQueueLimit: 1 } as object : {})
  })
  const client = ResilientHttpClient.wrap(NodeHttpClient.makeUndici(agent), resilience)
  const get = (url: string) =>
    Effect.ignore(Effect.scoped(Effect.flatMap(client.get(url), (response) => response.text)))
  const loop = (url: string, pauseMillis: number) => Effect.repeat(get(url), Schedule.spaced(pauseMillis))
  yield* Effect.forkScoped(loop(`${helloUrl}/hello`, 40))
  for (let i = 0; i < 4; i++) yield* Effect.forkScoped(loop(`${stallUrl}/stall`, 50))
}).pipe(Effect.orDie) // constant options and loopback servers: a failure here is a bug
