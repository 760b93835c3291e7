/**
 * The inbound edge goes through the guards' metrics path (the server half of HttpObservability.test.ts,
 * which needs the HTTP client too): with a `Metrics.Collector` in the context, the middleware's shedding
 * bulkhead is tracked, and the inbound HTTP metrics (latency, response codes, refusals) are in the same
 * Prometheus scrape as the guards'. Runs on both Effect targets: on Effect 4 the metrics go to the
 * default `MetricRegistry`, which `@effect/opentelemetry`'s producer reads.
 */
import { HttpServerResponse } from "#port/httpServer"
import { itScopedLive } from "#test-port"
import { realClient, serve } from "#test-port/http"
import { describe, expect } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as RateLimitMiddleware from "../../src/http/RateLimitMiddleware.js"
import * as Metrics from "../../src/observability/Metrics.js"
import * as Prometheus from "../../src/observability/Prometheus.js"
import * as Snapshot from "../../src/observability/Snapshot.js"
import * as Registry from "../../src/registry/Registry.js"

const Live = Prometheus.layer().pipe(Layer.provideMerge(Metrics.layer()), Layer.provideMerge(Registry.layer()))

/** The value of one series in a text exposition, or undefined. */
const valueOf = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe("HTTP observability, inbound", () => {
  itScopedLive(
    "the inbound HTTP metrics and the shedding bulkhead are in the same Prometheus scrape",
    () =>
      Effect.gen(function*() {
        const limit = yield* RateLimitMiddleware.make({
          name: "obs-inbound",
          limitForPeriod: 2,
          maxConcurrentRequests: 10
        })
        const url = yield* serve(Effect.succeed(HttpServerResponse.text("ok")), limit)
        const client = yield* realClient
        const statuses = yield* Effect.forEach(
          [1, 2, 3],
          () => Effect.flatMap(client.get(`${url}/x`), (response) => Effect.as(response.text, response.status))
        )
        expect(statuses).toEqual([200, 200, 429])
        const text = yield* Prometheus.scrape
        expect(valueOf(text, `breakwater_http_server_request_duration_seconds_count{policy="obs-inbound",route="*"}`))
          .toBe(3)
        expect(text).toContain(
          `breakwater_http_server_request_duration_seconds_bucket{policy="obs-inbound",route="*",le="0.001"}`
        )
        expect(valueOf(text, `breakwater_http_server_responses_total{policy="obs-inbound",route="*",code="200"}`))
          .toBe(2)
        expect(valueOf(text, `breakwater_http_server_responses_total{policy="obs-inbound",route="*",code="429"}`))
          .toBe(1)
        expect(
          valueOf(
            text,
            `breakwater_http_server_refusals_total{policy="obs-inbound",reason="rate_limited",key_class="ip"}`
          )
        ).toBe(1)
        expect(valueOf(text, `breakwater_http_server_live_keys{policy="obs-inbound"}`)).toBe(1)
        expect(valueOf(text, `breakwater_bulkhead_max_allowed_concurrent_calls{name="obs-inbound:shed"}`)).toBe(10)
        // The inbound edge as Snapshot reads it.
        const snapshot = yield* Snapshot.ofGuards([], [limit])
        expect(snapshot.http?.inbound[0]).toMatchObject({
          policy: "obs-inbound",
          status: "DEGRADED",
          responses: { "200": 2, "429": 1 },
          refusals: { rate_limited: 1 },
          liveKeys: 1
        })
      }).pipe(Effect.provide(Live))
  )
})
