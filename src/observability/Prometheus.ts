/**
 * The guards' metrics in Prometheus' text format, produced by OpenTelemetry: Effect's metrics go
 * through `@effect/opentelemetry`'s metric producer into the OpenTelemetry `PrometheusExporter` (its
 * HTTP server not started) and its `PrometheusSerializer`. Each scrape first brings the guards'
 * metrics up to date (see `Metrics`), so gauges are exact at that moment.
 *
 * ## When to use
 * To let Prometheus scrape a service: mount {@link httpApp} at `/metrics` on an @effect/platform
 * server (Effect 3) or an `effect/http` one (Effect 4), or call {@link scrape} from any other server.
 *
 * ## Gotchas
 * - The exposition holds every Effect metric of the process (Effect's registry is global), not only
 *   the guards'.
 * - Counters get Prometheus' `_total` suffix from the serializer; the breaker's duration histogram is
 *   `..._circuitbreaker_calls_seconds` (`_bucket`, `_count`, `_sum`), as Resilience4j's timer is.
 * - Scope labels (`otel_scope_name`) are left out by default so that Resilience4j dashboards match;
 *   `withScopeInfo: true` puts them back.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Metrics, Registry } from "breakwater"
 * import * as Prometheus from "breakwater/Prometheus"
 *
 * const Live = Prometheus.layer().pipe(
 *   Layer.provideMerge(Metrics.layer({ prefix: "resilience4j" })),
 *   Layer.provideMerge(Registry.layer())
 * )
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* Registry.Registry
 *   yield* registry.circuitBreaker("payments")
 *   return yield* Prometheus.scrape // "# HELP resilience4j_circuitbreaker_state ..."
 * }).pipe(Effect.provide(Live))
 * ```
 *
 * @since 0.1.0
 */
import { layerScoped, serviceKey } from "#port"
import {
  makeProducer,
  type OtelResource,
  registerProducer,
  resourceLayer,
  type TextResponse,
  textResponse
} from "#port/otel"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import type { MetricProducer } from "@opentelemetry/sdk-metrics"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { appendTo } from "./internal/otelSeries.js"
import { livePairs } from "./internal/series.js"
import * as Metrics from "./Metrics.js"

/**
 * Options of the exposition.
 *
 * @example
 * ```ts
 * import type * as Prometheus from "breakwater/Prometheus"
 *
 * const options: Prometheus.Options = { serviceName: "checkout", withTargetInfo: true }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  /** The OpenTelemetry resource's `service.name`, shown in `target_info`. */
  readonly serviceName?: string
  /** Add the `target_info` series (the resource's attributes). Default false. */
  readonly withTargetInfo?: boolean
  /** Add `otel_scope_name` labels. Default false. */
  readonly withScopeInfo?: boolean
}

/**
 * A running exposition.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Prometheus from "breakwater/Prometheus"
 *
 * const text = Effect.flatMap(Prometheus.Prometheus, (prometheus) => prometheus.scrape)
 * ```
 *
 * @since 0.1.0
 */
export interface Prometheus {
  /** The text exposition (format 0.0.4) of every metric, collected now. */
  readonly scrape: Effect.Effect<string>
  /** The OpenTelemetry reader behind it (its server is not started). */
  readonly exporter: PrometheusExporter
}

/**
 * The exposition as a service.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Prometheus from "breakwater/Prometheus"
 *
 * const text = Effect.flatMap(Prometheus.Prometheus, (p) => p.scrape)
 * ```
 *
 * @since 0.1.0
 */
export const Prometheus = serviceKey<Prometheus>("breakwater/Prometheus")

/**
 * @effect/opentelemetry's producer of Effect's metrics, collecting first: give it to any
 * OpenTelemetry `MetricReader` (`reader.setMetricProducer`, or `@effect/opentelemetry`'s
 * `Metrics.registerProducer`) and every read is up to date.
 *
 * @example
 * ```ts
 * import { Resource } from "@effect/opentelemetry"
 * import { Effect } from "effect"
 * import { Metrics } from "breakwater"
 * import * as Prometheus from "breakwater/Prometheus"
 *
 * const program = Effect.gen(function*() {
 *   const collector = yield* Metrics.Collector
 *   return yield* Prometheus.producer(collector)
 * }).pipe(Effect.provide(Resource.layer({ serviceName: "checkout" })))
 * ```
 *
 * @since 0.1.0 (moved here from `Metrics` in 0.2.0, so that the root entry loads no OpenTelemetry)
 */
export const producer = (collector: Metrics.Collector): Effect.Effect<MetricProducer, never, OtelResource> =>
  Effect.map(makeProducer, (inner) => ({
    collect: (options) => {
      collector.unsafeCollect()
      const series = livePairs(collector.unsafeSeries())
      return inner.collect(options).then((result) => {
        appendTo(result, series, Date.now()) // real clock: OpenTelemetry timestamps, as the inner producer's
        return result
      })
    }
  }))

/**
 * Creates the exposition for `collector`; the reader is shut down with the scope.
 *
 * @example
 * ```ts
 * import { Resource } from "@effect/opentelemetry"
 * import { Effect } from "effect"
 * import { Metrics } from "breakwater"
 * import * as Prometheus from "breakwater/Prometheus"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const collector = yield* Metrics.make()
 *     const prometheus = yield* Prometheus.make(collector)
 *     return yield* prometheus.scrape
 *   })
 * ).pipe(Effect.provide(Resource.layerEmpty))
 * ```
 *
 * @since 0.1.0
 */
export const make = (
  collector: Metrics.Collector,
  options: Options = {}
): Effect.Effect<Prometheus, never, Scope.Scope | OtelResource> =>
  Effect.gen(function*() {
    const withoutScopeInfo = options.withScopeInfo !== true
    const withoutTargetInfo = options.withTargetInfo !== true
    const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo, withoutTargetInfo })
    const serializer = new PrometheusSerializer(undefined, false, undefined, withoutTargetInfo, withoutScopeInfo)
    const metricProducer = yield* producer(collector)
    yield* registerProducer(metricProducer, () => exporter)
    const scrape = Effect.promise(() => exporter.collect()).pipe(
      Effect.map(({ resourceMetrics }) => serializer.serialize(resourceMetrics))
    )
    return { scrape, exporter }
  })

/**
 * A Layer providing {@link Prometheus} for the `Metrics.Collector` service.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Metrics, Registry } from "breakwater"
 * import * as Prometheus from "breakwater/Prometheus"
 *
 * const Live = Prometheus.layer({ serviceName: "checkout" }).pipe(
 *   Layer.provideMerge(Metrics.layer()),
 *   Layer.provideMerge(Registry.layer())
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<Prometheus, never, Metrics.Collector> =>
  layerScoped(Prometheus, Effect.flatMap(Metrics.Collector, (collector) => make(collector, options))).pipe(
    Layer.provide(resourceLayer(options.serviceName))
  )

/**
 * The text exposition, collected now.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Prometheus from "breakwater/Prometheus"
 *
 * const program = Prometheus.scrape.pipe(Effect.tap((text) => Effect.log(text)))
 * ```
 *
 * @since 0.1.0
 */
export const scrape: Effect.Effect<string, never, Prometheus> = Effect.flatMap(Prometheus, (p) => p.scrape)

/**
 * The `/metrics` endpoint for an HTTP server (`text/plain; version=0.0.4`): an
 * `HttpServerResponse` of `@effect/platform` in the Effect 3 build, of `effect/http` in the Effect 4
 * build. On Effect 4, mount it with `HttpRouter.add("GET", "/metrics", Prometheus.httpApp)` (a route
 * Layer); on Effect 3 as below.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { HttpRouter } from "@effect/platform"
 * import * as Prometheus from "breakwater/Prometheus"
 *
 * const router = HttpRouter.empty.pipe(HttpRouter.get("/metrics", Prometheus.httpApp))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { HttpRouter } from "effect/http"
 * import * as Prometheus from "breakwater/Prometheus"
 *
 * const MetricsRoute = HttpRouter.add("GET", "/metrics", Prometheus.httpApp)
 * ```
 *
 * @since 0.1.0
 */
export const httpApp: Effect.Effect<TextResponse, never, Prometheus> = Effect.map(
  scrape,
  (text) => textResponse(text, "text/plain; version=0.0.4; charset=utf-8")
)
