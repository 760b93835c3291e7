/**
 * What `Prometheus` needs from `@effect/opentelemetry` and the HTTP platform, in Effect 4's types
 * (`@effect/opentelemetry` 4.x, whose metrics module is `OtelMetrics`; `effect/http`). Reached as
 * `"#port/otel"`, never from `#port`. Effect 3's names: `../effect3/otel.ts`.
 *
 * @internal
 */
import * as OtelMetrics from "@effect/opentelemetry/OtelMetrics"
import * as Resource from "@effect/opentelemetry/Resource"
import type { MetricProducer, MetricReader } from "@opentelemetry/sdk-metrics"
import type * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"

/** The OpenTelemetry resource service (Effect 4: the `Resource` service class). */
export type OtelResource = Resource.Resource

/**
 * @effect/opentelemetry's producer of Effect's metrics (Effect 4: `OtelMetrics.makeProducer()`, cumulative;
 * it reads the `MetricRegistry` of the context it is made in).
 */
export const makeProducer: Effect.Effect<MetricProducer, never, OtelResource> = OtelMetrics.makeProducer()

/** Registers `producer` with the reader for the scope (Effect 4: `OtelMetrics.registerProducer`). */
export const registerProducer = (
  producer: MetricProducer,
  reader: () => MetricReader
): Effect.Effect<ReadonlyArray<unknown>, never, Scope.Scope> => OtelMetrics.registerProducer(producer, reader)

/** The resource: empty, or named `serviceName` (`Resource.layerEmpty` / `Resource.layer`, the same in both). */
export const resourceLayer = (serviceName: string | undefined): Layer.Layer<OtelResource> =>
  serviceName === undefined ? Resource.layerEmpty : Resource.layer({ serviceName })

/** The platform's server response (Effect 4: `effect/http`'s `HttpServerResponse`). */
export type TextResponse = HttpServerResponse.HttpServerResponse

/** A `text/plain`-like response of `contentType`. */
export const textResponse = (text: string, contentType: string): TextResponse =>
  HttpServerResponse.text(text, { contentType })
