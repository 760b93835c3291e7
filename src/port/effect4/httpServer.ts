/**
 * The HTTP server side in Effect 4's types (`effect/http`): requests, responses, middleware and
 * routes as `RateLimitMiddleware` and `Dashboard` use them. Reached as `"#port/httpServer"`, never
 * from `#port`. Effect 3's names and the differences: `../effect3/httpServer.ts`.
 *
 * @internal
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Effect_ from "effect/Effect"
import * as HttpEffect from "effect/http/HttpEffect"
import type * as HttpMiddleware from "effect/http/HttpMiddleware"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"

export * as HttpBody from "effect/http/HttpBody"
export { causeResponse } from "effect/http/HttpServerError"
export * as HttpServerResponse from "effect/http/HttpServerResponse"

/** The server request service and type (`effect/http`'s `HttpServerRequest`). */
export const ServerRequest = HttpServerRequest.HttpServerRequest
export type ServerRequest = HttpServerRequest.HttpServerRequest

/** A server response (`effect/http`'s `HttpServerResponse`). */
export type ServerResponse = HttpServerResponse.HttpServerResponse

/** An app: an Effect answering the request in its context (Effect 4: what `HttpEffect` calls an http effect). */
export type App<E = never, R = never> = Effect.Effect<ServerResponse, E, R | ServerRequest>

/**
 * A server-wide middleware (Effect 4: `HttpMiddleware.HttpMiddleware`, for `HttpServer.serve(app, middleware)`
 * or `HttpRouter.serve(routes, { middleware })`).
 */
export type Middleware = HttpMiddleware.HttpMiddleware

/**
 * A router's routes: Effect 4 has no router value, routes are Layers registering themselves with the
 * `HttpRouter` service (`HttpRouter.add`, `HttpRouter.addAll`), served by `HttpRouter.serve`.
 */
export type Routes<E, R> = Layer.Layer<
  never,
  never,
  HttpRouter.HttpRouter | HttpRouter.Request.From<"Requires", R> | HttpRouter.Request.From<"Error", E>
>

/**
 * Applies a middleware to each route of a routes Layer (Effect 4: `HttpRouter.middleware(…).layer`
 * provided to it); the Layer's own type is unchanged.
 */
export interface RoutesMiddleware {
  <A, E, R>(routes: Layer.Layer<A, E, R>): Layer.Layer<A, E, R>
}

/** One route: its method (`"*"`: any), path pattern and handler. */
export type RouteEntry<E, R> = readonly [
  method: "GET" | "POST" | "*",
  path: `/${string}`,
  handler: Effect.Effect<ServerResponse, E, R>
]

/** The failures of a list of route entries' handlers. */
export type EntriesError<Entries> = Entries extends ReadonlyArray<infer Entry>
  ? Entry extends RouteEntry<infer E, any> ? E : never
  : never
/** The services a list of route entries' handlers need. */
export type EntriesContext<Entries> = Entries extends ReadonlyArray<infer Entry>
  ? Entry extends RouteEntry<any, infer R> ? R : never
  : never

/** A routes Layer of `entries` (Effect 4: `HttpRouter.addAll` of `HttpRouter.route`s). */
export const routes = <const Entries extends ReadonlyArray<RouteEntry<any, any>>>(
  entries: Entries
): Routes<EntriesError<Entries>, Exclude<EntriesContext<Entries>, HttpRouter.Provided>> =>
  HttpRouter.addAll(entries.map(([method, path, handler]) => HttpRouter.route(method, path, handler))) as any

/** `guard` around each route of a routes Layer (Effect 4: `HttpRouter.middleware(guard).layer` provided to it). */
export const routesMiddleware = (
  guard: <E, R>(app: App<E, R>) => App<E, R | ServerRequest>
): RoutesMiddleware => {
  const middleware = HttpRouter.middleware((effect) => guard(effect)) as unknown as {
    readonly layer: Layer.Layer<never>
  }
  return <A, E, R>(routes: Layer.Layer<A, E, R>) => Layer.provide(routes, middleware.layer)
}

/** The matched route's parameters (`HttpRouter.params`, inside a route). */
export const routeParams: Effect.Effect<Readonly<Record<string, string | undefined>>, never, HttpRouter.RouteContext> =
  HttpRouter.params

/** The route matched for the request whose context this is, if any (one object per route: a cache key). */
export const matchedRoute = (
  context: Context.Context<never>
): { readonly method: string; readonly path: string } | undefined =>
  Context.getOrUndefined(context, HttpRouter.RouteContext)?.route

/**
 * Calls `f` with the request, the fiber's context and whether the fiber is interruptible, in the
 * same step (Effect 4: `Effect.withFiber`).
 */
export const withRequest = <A, E, R>(
  f: (request: ServerRequest, context: Context.Context<never>, interruptible: boolean) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | ServerRequest> =>
  Effect_.withFiber((fiber) => {
    const context = fiber.context
    return f(
      Context.getUnsafe(context, HttpServerRequest.HttpServerRequest),
      context,
      (fiber as { readonly interruptible?: boolean }).interruptible !== false
    )
  })

/**
 * `effect`, with `handler` run on the response just before it is sent, after the handlers added before
 * it; added at once, in the caller's step (Effect 4: `HttpEffect.appendPreResponseHandlerUnsafe` on the
 * request's state), which spares an Effect step per request.
 */
export const withPreResponseHandler = <A, E, R>(
  context: Context.Context<never>,
  handler: HttpEffect.PreResponseHandler,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  HttpEffect.appendPreResponseHandlerUnsafe(context, handler)
  return effect
}

/** A JSON response of a value known to encode (Effect 4: `HttpServerResponse.jsonUnsafe`). */
export const jsonResponse = HttpServerResponse.jsonUnsafe

/**
 * A metric's labels, made once and reused (Effect 4: a `Context` holding them as
 * `CurrentMetricAttributes`; its `MetricRegistry` is the default one, as Effect 3's registry is global).
 */
export type MetricTags = Context.Context<never>

/** Labels from `[key, value]` pairs (Effect 4: an attribute record in a `Context`). */
export const metricTags = (pairs: ReadonlyArray<readonly [string, string]>): MetricTags =>
  Context.make(Metric.CurrentMetricAttributes, Object.fromEntries(pairs)) as Context.Context<never>

/** Updates a metric of Effect's registry synchronously (Effect 4: `metric.updateUnsafe(value, context)`). */
export const updateMetric = <In>(metric: Metric.Metric<In, unknown>, value: In, tags: MetricTags): void =>
  metric.updateUnsafe(value, tags)

/** A histogram in Effect's registry over exponential bounds (Effect 4: `Metric.histogram(name, { boundaries })`). */
export const exponentialHistogram = (
  name: string,
  description: string,
  bounds: { readonly start: number; readonly factor: number; readonly count: number }
) => Metric.histogram(name, { description, boundaries: Metric.exponentialBoundaries(bounds) })
