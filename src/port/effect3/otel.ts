/**
 * What `Prometheus` needs from `@effect/opentelemetry` and the HTTP platform, in Effect 3's types
 * (`@effect/opentelemetry` 0.x, `@effect/platform`). Reached as `"#port/otel"`, never from `#port`,
 * so that the root entry loads no OpenTelemetry. Effect 4's names: `../effect4/otel.ts`.
 *
 * @internal
 */
import * as OtelMetrics from "@effect/opentelemetry/Metrics"
import * as Resource from "@effect/opentelemetry/Resource"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type { MetricProducer, MetricReader } from "@opentelemetry/sdk-metrics"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"

/** The OpenTelemetry resource service (Effect 3: a `Context.Tag`; Effect 4: a `Context.Service` class). */
export type OtelResource = Resource.Resource

/** @effect/opentelemetry's producer of Effect's metrics (Effect 3: `Metrics.makeProducer`, a value). */
export const makeProducer: Effect.Effect<MetricProducer, never, OtelResource> = OtelMetrics.makeProducer

/** Registers `producer` with the reader for the scope (Effect 3: `Metrics.registerProducer`). */
export const registerProducer = (
  producer: MetricProducer,
  reader: () => MetricReader
): Effect.Effect<ReadonlyArray<unknown>, never, Scope.Scope> => OtelMetrics.registerProducer(producer, reader)

/** The resource: empty, or named `serviceName` (`Resource.layerEmpty` / `Resource.layer`, the same in both). */
export const resourceLayer = (serviceName: string | undefined): Layer.Layer<OtelResource> =>
  serviceName === undefined ? Resource.layerEmpty : Resource.layer({ serviceName })

/** The platform's server response (Effect 3: `@effect/platform`'s `HttpServerResponse`). */
export type TextResponse = HttpServerResponse.HttpServerResponse

/** A `text/plain`-like response of `contentType`. */
export const textResponse = (text: string, contentType: string): TextResponse =>
  HttpServerResponse.text(text, { contentType })
