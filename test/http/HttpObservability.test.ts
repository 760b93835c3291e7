/**
 * Both HTTP edges go through the guards' metrics path: with a `Metrics.Collector` in the context, the
 * client's per-target guards (and the middleware's shedding bulkhead) are tracked
 * while they live, so they show in `Prometheus.scrape`, `collector.guards` and `Snapshot`; the HTTP
 * Effect metrics (latency, response codes, pool gauges) are in the same scrape.
 */
import { HttpClient, HttpClientResponse } from "#port/httpClient"
import { HttpServerResponse } from "#port/httpServer"
import { itScoped, itScopedLive, TestClock } from "#test-port"
import { serve } from "#test-port/http"
import { describe, expect } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as NodeResilientHttpClient from "../../src/http/NodeResilientHttpClient.js"
import * as RateLimitMiddleware from "../../src/http/RateLimitMiddleware.js"
import * as ResilientHttpClient from "../../src/http/ResilientHttpClient.js"
import * as Metrics from "../../src/observability/Metrics.js"
import * as Prometheus from "../../src/observability/Prometheus.js"
import * as Snapshot from "../../src/observability/Snapshot.js"
import * as Registry from "../../src/registry/Registry.js"
import { undiciLoads } from "./dependency.js"

const Live = Prometheus.layer().pipe(Layer.provideMerge(Metrics.layer()), Layer.provideMerge(Registry.layer()))

/** The value of one series in a text exposition, or undefined. */
const valueOf = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

/** An in-memory dependency that always answers 500. */
const failing = HttpClient.make((request) =>
  Effect.succeed(HttpClientResponse.fromWeb(request, new Response("boom", { status: 500 })))
)

describe("HTTP observability", () => {
  itScoped(
    "per-target guards are tracked while the target lives, then untracked and their series removed",
    () =>
      Effect.gen(function*() {
        const resilience = yield* ResilientHttpClient.make({
          name: "obs-expiry",
          idleTimeToLive: "1 minute",
          retry: false,
          circuitBreaker: { slidingWindowSize: 2, minimumNumberOfCalls: 2, waitDurationInOpenState: "10 minutes" }
        })
        const client = ResilientHttpClient.wrap(failing, resilience)
        yield* Effect.forEach([1, 2, 3], () => Effect.exit(client.get("http://dep.test/a")))
        const collector = yield* Metrics.Collector
        const names = (yield* collector.guards).map((g) => `${g.kind} ${g.name}`)
        expect(names).toEqual(expect.arrayContaining([
          "CircuitBreaker obs-expiry:dep.test",
          "TimeLimiter obs-expiry:dep.test:attempt",
          "TimeLimiter obs-expiry:dep.test:total"
        ]))
        expect((yield* resilience.guards).map((g) => g.name)).toContain("obs-expiry:dep.test")

        const open = `breakwater_circuitbreaker_state{name="obs-expiry:dep.test",state="open"}`
        let text = yield* Prometheus.scrape
        expect(valueOf(text, open)).toBe(1)
        expect(valueOf(text, `breakwater_circuitbreaker_not_permitted_calls_total{name="obs-expiry:dep.test"}`)).toBe(1)
        expect(
          valueOf(text, `breakwater_http_client_responses_total{client="obs-expiry",target="dep.test",code="500"}`)
        )
          .toBe(2)
        expect(valueOf(
          text,
          `breakwater_http_client_refusals_total{client="obs-expiry",target="dep.test",reason="circuit_open"}`
        )).toBe(1)

        // Snapshot and Health see the tracked guards through the collector.
        const snapshot = yield* Snapshot.ofGuards(yield* collector.guards)
        const breaker = snapshot.guards.find((g) => g.kind === "CircuitBreaker" && g.name === "obs-expiry:dep.test")
        expect(breaker).toMatchObject({ state: "Open", status: "DOWN" })
        expect(snapshot.status).toBe("DOWN")

        // Idle past its time to live but its breaker still refusing (Open for 10 minutes): kept, so that
        // forgetting the target cannot reopen the way to a sick host.
        yield* TestClock.adjust("2 minutes")
        expect(yield* resilience.targets).toEqual(["dep.test"])
        // Its Open wait over and idle past its time to live: the guards are released, untracked, series gone.
        yield* TestClock.adjust("9 minutes")
        expect(yield* resilience.targets).toEqual([])
        expect((yield* collector.guards).some((g) => g.name.startsWith("obs-expiry:dep.test"))).toBe(false)
        text = yield* Prometheus.scrape
        expect(valueOf(text, open)).toBeUndefined()
        expect(valueOf(text, `breakwater_circuitbreaker_failure_rate{name="obs-expiry:dep.test"}`)).toBeUndefined()
        expect(text).not.toContain("obs-expiry:dep.test")
        expect(text).not.toContain(`target="dep.test"`)
      }).pipe(Effect.provide(Live))
  )

  // NodeResilientHttpClient needs undici: skipped where undici 8 cannot load (Effect 4, Node < 22.19).
  itScopedLive.skipIf(!undiciLoads)(
    "the HTTP metrics of both edges are in the same Prometheus scrape as the guards'",
    () =>
      Effect.gen(function*() {
        const limit = yield* RateLimitMiddleware.make({
          name: "obs-server",
          limitForPeriod: 2,
          maxConcurrentRequests: 10
        })
        const url = yield* serve(Effect.succeed(HttpServerResponse.text("ok")), limit)
        const layer = NodeResilientHttpClient.layer({
          name: "obs-client",
          retry: false,
          poolMetricsInterval: "10 millis"
        })
        const context = yield* Layer.build(layer)
        const client = Context.get(context, HttpClient.HttpClient)
        const statuses = yield* Effect.forEach(
          [1, 2, 3],
          () => Effect.flatMap(client.get(`${url}/x`), (response) => Effect.as(response.text, response.status))
        )
        expect(statuses).toEqual([200, 200, 429])
        yield* Effect.sleep("50 millis") // a pool reading
        const text = yield* Prometheus.scrape
        const target = new URL(url).host
        const labels = `client="obs-client",target="${target}"`
        // Outbound: latency histogram and response codes per target, pool gauges per origin.
        expect(valueOf(text, `breakwater_http_client_request_duration_seconds_count{${labels}}`)).toBe(3)
        expect(valueOf(text, `breakwater_http_client_responses_total{${labels},code="200"}`)).toBe(2)
        expect(valueOf(text, `breakwater_http_client_responses_total{${labels},code="429"}`)).toBe(1)
        expect(text).toMatch(
          new RegExp(
            `breakwater_http_client_pool_connections\\{client="obs-client",origin="${url}",state="free"\\} \\d`
          )
        )
        expect(valueOf(text, `breakwater_http_client_pool_queued_requests{client="obs-client",origin="${url}"}`)).toBe(
          0
        )
        // The client's per-target guards, through the guards' own metrics.
        expect(valueOf(text, `breakwater_circuitbreaker_state{name="obs-client:${target}",state="closed"}`)).toBe(1)
        expect(
          valueOf(text, `breakwater_timelimiter_calls_total{name="obs-client:${target}:attempt",kind="successful"}`)
        )
          .toBe(3)
        // Inbound: latency and codes per route, refusals by key class, the shedding bulkhead.
        expect(valueOf(text, `breakwater_http_server_request_duration_seconds_count{policy="obs-server",route="*"}`))
          .toBe(3)
        expect(valueOf(text, `breakwater_http_server_responses_total{policy="obs-server",route="*",code="429"}`)).toBe(
          1
        )
        expect(
          valueOf(
            text,
            `breakwater_http_server_refusals_total{policy="obs-server",reason="rate_limited",key_class="ip"}`
          )
        ).toBe(1)
        expect(valueOf(text, `breakwater_bulkhead_max_allowed_concurrent_calls{name="obs-server:shed"}`)).toBe(10)
      }).pipe(Effect.provide(Live))
  )
})
