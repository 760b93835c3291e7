/**
 * The HTTP server side in Effect 3's types (`@effect/platform`): requests, responses, middleware and
 * routers as `RateLimitMiddleware` and `Dashboard` use them. Reached as `"#port/httpServer"`, never
 * from `#port`, so that the root entry loads no HTTP. Effect 4's names: `../effect4/httpServer.ts`.
 *
 * Routers differ most: Effect 3 has router values (`HttpRouter.empty.pipe(HttpRouter.get(…))`, a
 * middleware over a router is `HttpRouter.use`); Effect 4 has routes as Layers (`HttpRouter.add`,
 * route middleware as `HttpRouter.middleware(…).layer` provided to them).
 *
 * @internal
 */
import * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as RuntimeFlags from "effect/RuntimeFlags"

export * as HttpBody from "@effect/platform/HttpBody"
export { causeResponse } from "@effect/platform/HttpServerError"
export * as HttpServerResponse from "@effect/platform/HttpServerResponse"

/** The server request service and type (`@effect/platform`'s `HttpServerRequest`). */
export const ServerRequest = HttpServerRequest.HttpServerRequest
export type ServerRequest = HttpServerRequest.HttpServerRequest

/** A server response (`@effect/platform`'s `HttpServerResponse`). */
export type ServerResponse = HttpServerResponse.HttpServerResponse

/** An app: an Effect answering the request in its context (Effect 3: `HttpApp.Default<E, R>`). */
export type App<E = never, R = never> = HttpApp.Default<E, R>

/** A server-wide middleware (Effect 3: `HttpMiddleware.HttpMiddleware`, for `HttpServer.serve(app, middleware)`). */
export type Middleware = HttpMiddleware.HttpMiddleware

/** A router's routes: Effect 3's router value `HttpRouter<E, R>`. */
export type Routes<E, R> = HttpRouter.HttpRouter<E, R>

/** Applies a middleware to each route of `Routes` (Effect 3: `HttpRouter.use` on a router value). */
export interface RoutesMiddleware {
  <E, R>(router: HttpRouter.HttpRouter<E, R>): HttpRouter.HttpRouter<E, R>
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

/** A router of `entries` (Effect 3: `HttpRouter.empty` piped through `HttpRouter.route(method)` / `all`). */
export const routes = <const Entries extends ReadonlyArray<RouteEntry<any, any>>>(
  entries: Entries
): Routes<EntriesError<Entries>, HttpRouter.HttpRouter.ExcludeProvided<EntriesContext<Entries>>> =>
  entries.reduce(
    (router: HttpRouter.HttpRouter<any, any>, [method, path, handler]) =>
      method === "*" ? HttpRouter.all(router, path, handler) : HttpRouter.route(method)(router, path, handler),
    HttpRouter.empty as HttpRouter.HttpRouter<any, any>
  ) as any

/** `guard` around each route of a router (Effect 3: `HttpRouter.use`). */
export const routesMiddleware = (
  guard: <E, R>(app: App<E, R>) => App<E, R | ServerRequest>
): RoutesMiddleware =>
<E, R>(router: HttpRouter.HttpRouter<E, R>) =>
  HttpRouter.use(router, (app) => guard(app)) as unknown as HttpRouter.HttpRouter<E, R>

/** The matched route's parameters (`HttpRouter.params`, inside a route). */
export const routeParams: Effect.Effect<Readonly<Record<string, string | undefined>>, never, HttpRouter.RouteContext> =
  HttpRouter.params

/** The route matched for the request whose context this is, if any (one object per route: a cache key). */
export const matchedRoute = (
  context: Context.Context<never>
): { readonly method: string; readonly path: string } | undefined =>
  Option.getOrUndefined(Option.map(Context.getOption(context, HttpRouter.RouteContext), (matched) => matched.route))

/**
 * Calls `f` with the request, the fiber's context and whether the fiber is interruptible, in the
 * same step (Effect 3: `Effect.withFiberRuntime` and the runtime flags).
 */
export const withRequest = <A, E, R>(
  f: (request: ServerRequest, context: Context.Context<never>, interruptible: boolean) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | ServerRequest> =>
  Effect.withFiberRuntime((fiber, status) => {
    const context = fiber.currentContext
    return f(
      Context.unsafeGet(context, HttpServerRequest.HttpServerRequest),
      context,
      RuntimeFlags.interruption(status.runtimeFlags)
    )
  })

/**
 * `effect`, with `handler` run on the response just before it is sent, after the handlers added before
 * it (Effect 3: `HttpApp.appendPreResponseHandler` first, a `FiberRef` update: Effect 3 has no public
 * way to make it in the caller's step).
 */
export const withPreResponseHandler = <A, E, R>(
  _context: Context.Context<never>,
  handler: HttpApp.PreResponseHandler,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => Effect.zipRight(HttpApp.appendPreResponseHandler(handler), effect)

/** A JSON response of a value known to encode (Effect 3: `HttpServerResponse.unsafeJson`). */
export const jsonResponse = HttpServerResponse.unsafeJson

/** A metric's labels, made once and reused (Effect 3: a `MetricLabel` array). */
export type MetricTags = ReadonlyArray<MetricLabel.MetricLabel>

/** Labels from `[key, value]` pairs (Effect 3: `MetricLabel.make` each). */
export const metricTags = (pairs: ReadonlyArray<readonly [string, string]>): MetricTags =>
  pairs.map(([key, value]) => MetricLabel.make(key, value))

/** Updates a metric of Effect's registry synchronously (Effect 3: `metric.unsafeUpdate(value, labels)`). */
export const updateMetric = <In>(metric: Metric.Metric<any, In, unknown>, value: In, tags: MetricTags): void =>
  metric.unsafeUpdate(value, tags)

/** A histogram in Effect's registry over exponential bounds (Effect 3: `Metric.histogram(name, boundaries, description)`). */
export const exponentialHistogram = (
  name: string,
  description: string,
  bounds: { readonly start: number; readonly factor: number; readonly count: number }
) => Metric.histogram(name, MetricBoundaries.exponential(bounds), description)
