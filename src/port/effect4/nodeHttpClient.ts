/**
 * `@effect/platform-node`'s undici client over a given dispatcher, on Effect 4 (see
 * `../effect3/nodeHttpClient.ts`). A sub-port of its own (`#port/nodeHttpClient`).
 *
 * @internal
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as Undici from "@effect/platform-node/Undici"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"

/**
 * A new undici `Agent` built from `options`, destroyed with the scope: Effect 4's
 * `NodeHttpClient.makeDispatcherOptions`, which loads undici only then (undici 8 needs Node >= 22.19 to load).
 */
export const makeAgent = (options?: Undici.Agent.Options): Effect.Effect<Undici.Dispatcher, never, Scope.Scope> =>
  NodeHttpClient.makeDispatcherOptions(options)

/**
 * An `HttpClient` sending through `dispatcher`: Effect 4's `NodeHttpClient.makeUndici`, an effect that
 * reads the `Dispatcher` service (Effect 3: a function of the dispatcher).
 */
export const undiciClientLayer = (dispatcher: Undici.Dispatcher): Layer.Layer<HttpClient.HttpClient> =>
  Layer.effect(
    HttpClient.HttpClient,
    Effect.provideService(NodeHttpClient.makeUndici, NodeHttpClient.Dispatcher, dispatcher)
  )
