/**
 * The HTTP test port for Effect 3 (`@effect/platform`, `@effect/platform-node` 0.x): real servers on
 * 127.0.0.1 with ephemeral ports, a real undici client, and reads of Effect's HTTP metrics. Reached as
 * `"#test-port/http"`; Effect 4's: `../effect4/http.ts`.
 */
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { type Context, Effect, Layer, Metric, MetricLabel, type Scope } from "effect"
import { createServer } from "node:http"

/** Serves `app` on 127.0.0.1:0 until the scope closes; returns its base URL. */
export const serve = <E>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, HttpServerRequest.HttpServerRequest | Scope.Scope>,
  middleware?: HttpMiddleware.HttpMiddleware
): Effect.Effect<string, never, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* Effect.orDie(NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" }))
    yield* middleware === undefined ? server.serve(app) : server.serve(app, middleware)
    const address = server.address as HttpServer.TcpAddress
    return `http://127.0.0.1:${address.port}`
  })

/**
 * Serves a router (Effect 3: a router value is itself an app), its handlers given `context` (the
 * services its routes need, e.g. `Dashboard`).
 */
export const serveRoutes = <E, R>(
  router: HttpRouter.HttpRouter<E, R>,
  middleware?: HttpMiddleware.HttpMiddleware,
  context?: Context.Context<R>
): Effect.Effect<string, never, Scope.Scope> =>
  serve(
    (context === undefined ? router : Effect.provide(router, context)) as Effect.Effect<
      HttpServerResponse.HttpServerResponse,
      E,
      HttpServerRequest.HttpServerRequest | Scope.Scope
    >,
    middleware
  )

/** The real undici client of `@effect/platform-node`, for the scope. */
export const realClient: Effect.Effect<HttpClient.HttpClient, never, Scope.Scope> = Effect.flatMap(
  Layer.build(NodeHttpClient.layerUndici),
  (context) => Effect.provide(HttpClient.HttpClient, context)
)

/**
 * `@effect/platform-node`'s `node:http` client with a keep-alive agent, for the scope (Effect 3:
 * `NodeHttpClient.layerWithoutAgent` over `makeAgentLayer({ keepAlive: true })`); the Effect 4 port's
 * `nodeHttpClient` is the benchmark's Effect 4 load generator (bench/targets/httpCases.ts).
 */
export const nodeHttpClient: Effect.Effect<HttpClient.HttpClient, never, Scope.Scope> = Effect.flatMap(
  Layer.build(Layer.provide(NodeHttpClient.layerWithoutAgent, NodeHttpClient.makeAgentLayer({ keepAlive: true }))),
  (context) => Effect.provide(HttpClient.HttpClient, context)
)

/** A server request made from a web `Request` (no socket). */
export const requestFromWeb = (request: Request): HttpServerRequest.HttpServerRequest =>
  HttpServerRequest.fromWeb(request)

/** The current count of a counter of Effect's registry labelled `pairs`. */
export const counterValue = (
  counter: Metric.Metric.Counter<number>,
  pairs: ReadonlyArray<readonly [string, string]>
): Effect.Effect<number> =>
  Effect.map(
    Metric.value(Metric.taggedWithLabels(counter, pairs.map(([key, value]) => MetricLabel.make(key, value)))),
    (state) => state.count
  )

/**
 * A router answering web `Request`s in process (no socket), its routes given the services `layer`
 * builds (Effect 3: `HttpApp.toWebHandlerLayer`); `dispose` releases them.
 */
export const webHandler = <E, R, LE>(router: HttpRouter.HttpRouter<E, R>, layer: Layer.Layer<R, LE>): {
  readonly handler: (request: Request) => Promise<Response>
  readonly dispose: () => Promise<void>
} => HttpApp.toWebHandlerLayer(router, layer)
