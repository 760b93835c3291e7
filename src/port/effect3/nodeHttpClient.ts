/**
 * `@effect/platform-node`'s undici client over a given dispatcher, on Effect 3 (`../effect4/nodeHttpClient.ts`
 * has the same name). A sub-port of its own (`#port/nodeHttpClient`) so that only
 * `NodeResilientHttpClient` loads Node's HTTP layer.
 *
 * @internal
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Undici from "@effect/platform-node/Undici"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"

/** A new undici `Agent` built from `options`, destroyed with the scope. */
export const makeAgent = (options?: Undici.Agent.Options): Effect.Effect<Undici.Dispatcher, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => new Undici.Agent(options)),
    (agent) => Effect.promise(() => agent.destroy())
  )

/** An `HttpClient` sending through `dispatcher`: Effect 3's `NodeHttpClient.makeUndici(dispatcher)`. */
export const undiciClientLayer = (dispatcher: Undici.Dispatcher): Layer.Layer<HttpClient.HttpClient> =>
  Layer.succeed(HttpClient.HttpClient, NodeHttpClient.makeUndici(dispatcher))
