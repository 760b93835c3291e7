/**
 * Traffic for the series the demo does not produce by itself: an inbound `RateLimitMiddleware` (its
 * latency, response codes, 429 refusals and live keys) and an HTTP client that knows its undici
 * dispatcher (its connection-pool gauges, and "pool exhausted" refusals where the client has
 * `poolQueueLimit`).
 *
 * - "hello", behind a policy named "edge" that lets 1 request a second through, is sent up to 20 a
 *   second (a few on a loaded machine) by a plain undici client (a `ResilientHttpClient` would pause on the 429s' `Retry-After`
 *   and the policy's own headers, and rarely be refused);
 * - "stall" answers after 500 ms (every tenth after 1.5 s, past the client's 1 s attempt timeout;
 *   every seventh with a 500, so dependency errors show whatever phase the demo is in) to
 *   a `ResilientHttpClient` named "edge" with 2 connections, called by 4 loops at once: both
 *   connections busy, requests queued behind them, timeouts, and past `poolQueueLimit: 1` calls
 *   refused as pool exhausted.
 * Everything lives in the caller's scope; the metrics are Effect's global ones and the registered
 * HTTP series, so they appear on every `/metrics` of the process, the demo's included.
 */
import { HttpClient } from "#port/httpClient"
import { HttpServerResponse } from "#port/httpServer"
import { makeAgent, undiciClientLayer } from "#port/nodeHttpClient"
import { serve } from "#test-port/http"
import * as RateLimitMiddleware from "breakwater/RateLimitMiddleware"
import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
import { Context, Effect, Layer, Schedule, type Scope } from "effect"

export const policyName = "edge"
export const clientName = "edge"

/** Starts the servers and the client's loops, until the scope closes. */
export const start: Effect.Effect<void, never, Scope.Scope> = Effect.gen(function*() {
  const policy = yield* RateLimitMiddleware.make({
    name: policyName,
    limitForPeriod: 2,
    limitRefreshPeriod: "2 seconds"
  })
  const helloUrl = yield* serve(Effect.succeed(HttpServerResponse.text("hello")), policy)
  let stalls = 0
  const stall = Effect.suspend(() => {
    const n = ++stalls
    return Effect.as(
      Effect.sleep(n % 10 === 0 ? "1500 millis" : "500 millis"),
      n % 7 === 0 ? HttpServerResponse.text("failed", { status: 500 }) : HttpServerResponse.text("slow")
    )
  })
  const stallUrl = yield* serve(stall)
  const agent = yield* makeAgent({ keepAliveTimeout: 10_000, connections: 2 })
  const resilience = yield* ResilientHttpClient.make({
    name: clientName,
    dispatcher: agent,
    poolMetricsInterval: "250 millis",
    retry: false,
    circuitBreaker: false,
    attemptTimeout: "1 second",
    poolConnections: 2,
    poolQueueLimit: 1
  })
  const plain = Context.get(yield* Layer.build(undiciClientLayer(agent)), HttpClient.HttpClient)
  const client = ResilientHttpClient.wrap(plain, resilience)
  const get = <E>(http: HttpClient.HttpClient.With<E>, url: string) =>
    Effect.ignore(Effect.scoped(Effect.flatMap(http.get(url), (response) => response.text)))
  const loop = <E>(http: HttpClient.HttpClient.With<E>, url: string, pauseMillis: number) =>
    Effect.repeat(get(http, url), Schedule.spaced(pauseMillis))
  yield* Effect.forkScoped(loop(plain, `${helloUrl}/hello`, 50))
  for (let i = 0; i < 4; i++) yield* Effect.forkScoped(loop(client, `${stallUrl}/stall`, 50))
}).pipe(Effect.orDie) // constant options and loopback servers: a failure here is a bug
