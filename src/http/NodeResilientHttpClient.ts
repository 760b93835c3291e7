/**
 * `ResilientHttpClient` over `@effect/platform-node`'s undici client, with a connection pool of its
 * own that is measured and shown in the snapshot. A subpath of its own
 * (`breakwater/NodeResilientHttpClient`) so that `breakwater/ResilientHttpClient` needs only
 * `@effect/platform`: a user who brings another `HttpClient` never loads Node's HTTP layer or undici.
 *
 * @since 0.2.0
 */
import { unwrapLayerScoped } from "#port"
import type { HttpClient } from "#port/httpClient"
import { makeAgent, undiciClientLayer } from "#port/nodeHttpClient"
import type * as Undici from "@effect/platform-node/Undici"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import { readPool } from "./internal/pool.js"
import * as ResilientHttpClient from "./ResilientHttpClient.js"

/**
 * Like `ResilientHttpClient.layer`, over `@effect/platform-node`'s undici client with its own undici
 * `Agent` (built from `agentOptions`, e.g. `{ connections: 10 }` per origin, and closed with the layer),
 * so the connection pools are measured and shown in the snapshot. A bounded `connections` is the
 * client's `poolConnections`, so `poolQueueLimit` refuses calls past it as "pool exhausted".
 *
 * @example
 * ```ts
 * // Effect 3
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 * import * as NodeResilientHttpClient from "breakwater/NodeResilientHttpClient"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const Client = NodeResilientHttpClient.layer({ name: "partners" }, { connections: 10 })
 * const program = Effect.gen(function*() {
 *   const response = yield* HttpClient.get("http://127.0.0.1:1/")
 *   const { pools } = yield* Effect.flatMap(ResilientHttpClient.ResilientHttpClient, (c) => c.snapshot)
 *   return { status: response.status, pools }
 * }).pipe(Effect.provide(Client))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Effect } from "effect"
 * import { HttpClient } from "effect/http"
 * import * as NodeResilientHttpClient from "breakwater/NodeResilientHttpClient"
 * import * as ResilientHttpClient from "breakwater/ResilientHttpClient"
 *
 * const Client = NodeResilientHttpClient.layer({ name: "partners" }, { connections: 10 })
 * const program = Effect.gen(function*() {
 *   const response = yield* HttpClient.get("http://127.0.0.1:1/")
 *   const { pools } = yield* Effect.flatMap(ResilientHttpClient.ResilientHttpClient, (c) => c.snapshot)
 *   return { status: response.status, pools }
 * }).pipe(Effect.provide(Client))
 * ```
 *
 * @since 0.2.0 (was `ResilientHttpClient.layerUndici`)
 */
export const layer = (
  options: Omit<ResilientHttpClient.Options, "dispatcher">,
  agentOptions?: Undici.Agent.Options
): Layer.Layer<HttpClient.HttpClient | ResilientHttpClient.ResilientHttpClient, InvalidConfigError> =>
  unwrapLayerScoped(Effect.map(
    makeAgent(agentOptions),
    (dispatcher) =>
      ResilientHttpClient.layer({
        ...options,
        dispatcher,
        // The pool's size, for `poolQueueLimit`: undici's `connections` per origin, when bounded.
        ...(options.poolConnections === undefined && typeof agentOptions?.connections === "number"
          ? { poolConnections: agentOptions.connections }
          : {})
      }).pipe(
        Layer.provide(undiciClientLayer(dispatcher))
      )
  ))

/**
 * The connection pools of an undici dispatcher (an `Agent`: one per origin; a `Pool` or `Client`:
 * one), read now.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { Undici } from "@effect/platform-node"
 * import * as NodeResilientHttpClient from "breakwater/NodeResilientHttpClient"
 *
 * const agent = new Undici.Agent({ connections: 4 })
 * const busy = NodeResilientHttpClient.poolStats(agent).map((pool) => `${pool.origin}: ${pool.busy} busy`)
 * ```
 *
 * ```ts
 * // Effect 4
 * import * as Undici from "@effect/platform-node/Undici"
 * import * as NodeResilientHttpClient from "breakwater/NodeResilientHttpClient"
 *
 * const agent = new Undici.Agent({ connections: 4 })
 * const busy = NodeResilientHttpClient.poolStats(agent).map((pool) => `${pool.origin}: ${pool.busy} busy`)
 * ```
 *
 * @since 0.2.0 (was `ResilientHttpClient.poolStats`)
 */
export const poolStats = (dispatcher: Undici.Dispatcher): ReadonlyArray<ResilientHttpClient.PoolStats> =>
  readPool(dispatcher)
