/**
 * The HTTP test port for Effect 4 (`effect/http`, `@effect/platform-node` 4): the same names as
 * `../effect3/http.ts`. Routes are Layers here, served through `HttpRouter.toHttpEffect`.
 */
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer, Metric, type Scope } from "effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpEffect from "effect/http/HttpEffect"
import type * as HttpMiddleware from "effect/http/HttpMiddleware"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import { createServer } from "node:http"
import * as zlib from "node:zlib"

/** Serves `app` on 127.0.0.1:0 until the scope closes; returns its base URL. */
export const serve = <E>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, HttpServerRequest.HttpServerRequest | Scope.Scope>,
  middleware?: HttpMiddleware.HttpMiddleware
): Effect.Effect<string, never, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* Effect.orDie(NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" }))
    yield* middleware === undefined ? server.serve(app) : server.serve(app, middleware)
    const address = server.address
    if (address._tag === "UnixPathAddress") return yield* Effect.die(new Error("not a TCP server"))
    return `http://127.0.0.1:${address.port}`
  })

/**
 * Serves a routes Layer (Effect 4: through `HttpRouter.toHttpEffect`), its handlers given `context`
 * (the services its routes need, e.g. `Dashboard`: `HttpRouter.provideRequest`).
 */
export const serveRoutes = <E, R>(
  routes: Layer.Layer<never, E, R>,
  middleware?: HttpMiddleware.HttpMiddleware,
  context?: Context.Context<any>
): Effect.Effect<string, never, Scope.Scope> => {
  const provided = context === undefined
    ? routes
    : routes.pipe(HttpRouter.provideRequest(Layer.succeedContext(context)))
  return Effect.flatMap(
    Effect.orDie(HttpRouter.toHttpEffect(provided as Layer.Layer<never, E, HttpRouter.HttpRouter>)),
    (app) => serve(app, middleware)
  )
}

/**
 * A real client of `@effect/platform-node`, for the scope. Effect 4's undici client needs undici 8, which
 * needs Node >= 22.19 (it binds `zlib.createZstdDecompress` on load); on Node 20 this target uses the
 * `node:http` client instead (`NodeHttpClient.layerNodeHttp`): real sockets either way.
 */
export const realClient: Effect.Effect<HttpClient.HttpClient, never, Scope.Scope> = Effect.flatMap(
  Layer.build(
    typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress === "function"
      ? NodeHttpClient.layerUndici
      : NodeHttpClient.layerNodeHttp
  ),
  (context) => Effect.succeed(Context.get(context, HttpClient.HttpClient))
)

/**
 * `@effect/platform-node`'s `node:http` client with a keep-alive agent, for the scope (Effect 4:
 * `NodeHttpClient.layerNodeHttpOptions({ keepAlive: true })`): unlike the undici client it loads on
 * Node 20 (the benchmark's Effect 4 load generator, see bench/targets/httpCases.ts).
 */
export const nodeHttpClient: Effect.Effect<HttpClient.HttpClient, never, Scope.Scope> = Effect.flatMap(
  Layer.build(NodeHttpClient.layerNodeHttpOptions({ keepAlive: true })),
  (context) => Effect.succeed(Context.get(context, HttpClient.HttpClient))
)

/** A server request made from a web `Request` (no socket). */
export const requestFromWeb = (request: Request): HttpServerRequest.HttpServerRequest =>
  HttpServerRequest.fromWeb(request)

/** The current count of a counter of Effect's registry labelled `pairs`. */
export const counterValue = (
  counter: Metric.Counter<number>,
  pairs: ReadonlyArray<readonly [string, string]>
): Effect.Effect<number> =>
  Effect.map(Metric.value(Metric.withAttributes(counter, Object.fromEntries(pairs))), (state) => Number(state.count))

/**
 * A routes Layer answering web `Request`s in process (no socket), its routes given the services
 * `layer` builds (Effect 4: `HttpEffect.toWebHandlerLayerWith` over `HttpRouter.toHttpEffect`);
 * `dispose` releases them. The services are built at once, as Effect 3's `toWebHandlerLayer` does
 * (`HttpRouter.toWebHandler` would build them on the first request).
 */
export const webHandler = <E, R, LA, LE>(routes: Layer.Layer<never, E, R>, layer: Layer.Layer<LA, LE>): {
  readonly handler: (request: Request) => Promise<Response>
  readonly dispose: () => Promise<void>
} => {
  const web = HttpEffect.toWebHandlerLayerWith(layer, {
    // Registering routes holds no resource: the scope the router is built in can end at once.
    toHandler: () =>
      Effect.orDie(Effect.scoped(HttpRouter.toHttpEffect(routes as Layer.Layer<never, E, HttpRouter.HttpRouter>)))
  })
  // The handler's services are `layer`'s: no per-request context is needed.
  const handler = web.handler as (request: Request) => Promise<Response>
  return { handler: (request) => handler(request), dispose: web.dispose }
}
