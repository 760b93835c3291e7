/**
 * The Redis {@link Store}: guards made where this Layer is provided share their state, by name, with
 * every process using the same Redis and prefix. Built on `ioredis`.
 *
 * - Rate limiters: each acquire is one round trip (a Lua script run with EVALSHA, loaded once), atomic,
 *   timed by Redis's `TIME`; keys `prefix:ratelimiter:{<name>}:...` (one Cluster slot per limiter: `%`,
 *   `{` and `}` in a name are written `%25`, `%7B`, `%7D`) expire
 *   once the limiter has forgotten them (a couple of periods).
 * - Redis Cluster (and Valkey): pass a `Cluster` or its nodes (see {@link Connection}); every guard's keys
 *   and channel share one slot, scripts are loaded on each node, and pub/sub is sharded where the servers
 *   have it. A failover loses the writes its master had not yet replicated (see the README).
 * - Circuit breakers: shared state, leased half-open trials, changes published over pub/sub.
 * - When Redis is unreachable, each guard follows its `onStoreFailure` (default: this store's).
 *
 * A connection made from a URL or options is configured to fail fast (no offline queue, 1 s command
 * timeout, auto-pipelining, reconnection forever) and closed with the Layer. Guards wait at most the
 * store's `timeout` (default 250 ms) for an answer. A client you pass is used
 * as is and left open; give it {@link clientOptions} so that a Redis outage fails calls at once instead of
 * queueing them.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 * import * as RedisStore from "breakwater/RedisStore"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     // One limit for the whole fleet: 100 calls per second to the partner, from every instance together.
 *     const limiter = yield* RateLimiter.make({ name: "partner", limitForPeriod: 100, limitRefreshPeriod: "1 second" })
 *     return yield* limiter.tryAcquire()
 *   })
 * ).pipe(Effect.provide(RedisStore.layer({ url: "redis://127.0.0.1:6379" }, { prefix: "billing" })))
 * ```
 *
 * @since 0.1.0
 */
import {
  callback,
  type ConfigFailure,
  decodeOptions,
  type DurationInput,
  FiniteDuration,
  layerScoped,
  OneOf,
  refine,
  stringConfig,
  toDuration,
  unwrapLayer
} from "#port"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from "ioredis"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import { type OnStoreFailure, Store } from "../store/Store.js"
import { makeRedisCircuitBreakerStore } from "./internal/circuitBreakerStore.js"
import { makeRedisRateLimiterStore } from "./internal/rateLimiterStore.js"
import {
  type Client,
  connect,
  connectCluster,
  DEFAULT_TIMEOUT_MILLIS,
  failFastClusterOptions,
  failFastOptions,
  makeConnection
} from "./internal/RedisConnection.js"

/**
 * Where the store's Redis is: a client you own, a URL, or ioredis options (the last two are connected
 * and closed by the Layer); for a Redis Cluster, a `Cluster` client you own, or some of its nodes (URLs
 * like `redis://10.0.0.1:6379`, `host:port` strings or `{ host, port }`) with optional ioredis
 * `ClusterOptions` (connected with {@link clusterOptions} underneath yours, and closed by the Layer).
 *
 * @example
 * ```ts
 * import type * as RedisStore from "breakwater/RedisStore"
 *
 * const local: RedisStore.Connection = { url: "redis://127.0.0.1:6379/0" }
 * const sentinel: RedisStore.Connection = { options: { sentinels: [{ host: "10.0.0.1", port: 26379 }], name: "main" } }
 * const cluster: RedisStore.Connection = {
 *   clusterNodes: ["redis://10.0.0.1:6379", { host: "10.0.0.2", port: 6379 }],
 *   clusterOptions: { redisOptions: { password: "secret" } }
 * }
 * ```
 *
 * @since 0.1.0
 */
export type Connection =
  | { readonly client: Redis }
  | { readonly url: string }
  | { readonly options: RedisOptions }
  | { readonly cluster: Cluster }
  | { readonly clusterNodes: ReadonlyArray<ClusterNode>; readonly clusterOptions?: ClusterOptions }

/**
 * The store's settings.
 *
 * @example
 * ```ts
 * import type * as RedisStore from "breakwater/RedisStore"
 *
 * const settings: RedisStore.Options = { prefix: "checkout", onStoreFailure: "fail-open", timeout: "50 millis" }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  /**
   * Prefix of every key (and pub/sub channel), so several applications can share one Redis. Default
   * `breakwater`. No whitespace, no braces (they would make it a Redis Cluster hash tag).
   */
  readonly prefix?: string
  /** Default failure mode of the guards made with this store. Default `"local-fallback"`. */
  readonly onStoreFailure?: OnStoreFailure
  /**
   * How long a guard waits for Redis to answer one call before deciding in its failure mode (and then
   * deciding without Redis for a second before asking again). Default 250 ms: a healthy Redis answers
   * in well under a millisecond, but a burst of hundreds of concurrent calls on a busy host queues for
   * tens of milliseconds, and a call that times out after Redis ran it has taken its permit there while
   * the failure mode decides again; 250 ms stays clear of that and still cuts a stalled server's cost
   * to a quarter of ioredis' 1 s command timeout, once per second (the rest decide without asking).
   */
  readonly timeout?: DurationInput
}

const OptionsSchema = Schema.Struct({
  prefix: Schema.optional(
    // Braces would make the prefix a Redis Cluster hash tag: every key of every guard in one slot, or,
    // with "{}", none of a guard's keys sharing one.
    Schema.String.pipe(
      refine((s: string) => /^[^\s{}]+$/.test(s) || "must be non-empty, without whitespace or braces")
    )
  ),
  onStoreFailure: Schema.optional(OneOf("fail-open", "fail-closed", "local-fallback")),
  // At most an hour: a store answer later than that is no answer, and Node's timers overflow far beyond.
  timeout: Schema.optional(
    FiniteDuration(Duration.millis(1)).pipe(
      // An infinite timeout is reported once, by FiniteDuration (Effect 4 runs every check, 3 stops at one).
      refine((u) => {
        const millis = Duration.toMillis(toDuration(u as DurationInput))
        return !Number.isFinite(millis) || millis <= 3_600_000 || "must be at most 1 hour"
      })
    )
  )
})

/**
 * The ioredis options the Layer uses for the connections it makes: fail fast while Redis is down (no
 * offline queue, no retry of a command, 1 s timeout), auto-pipelining, and reconnection forever with a
 * backoff up to 1 s. Give them to a client you pass to {@link layer}.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis"
 * import * as RedisStore from "breakwater/RedisStore"
 *
 * const client = new Redis("redis://127.0.0.1:6379", { ...RedisStore.clientOptions, lazyConnect: true })
 * const StoreLive = RedisStore.layer({ client })
 * ```
 *
 * @since 0.1.0
 */
export const clientOptions: RedisOptions = failFastOptions

/**
 * The ioredis `ClusterOptions` the Layer uses for the Redis Cluster connections it makes: fail fast
 * while a slot has no master (no offline queue, node commands time out after 1 s, no retry), auto-pipelining
 * per node, reconnection forever, and the slot map refreshed every second (a failover's promoted replica
 * is found within about a second). Give them to a `Cluster` you pass to {@link layer}.
 *
 * @example
 * ```ts
 * import { Cluster } from "ioredis"
 * import * as RedisStore from "breakwater/RedisStore"
 *
 * const cluster = new Cluster([{ host: "127.0.0.1", port: 7000 }], { ...RedisStore.clusterOptions, lazyConnect: true })
 * const StoreLive = RedisStore.layer({ cluster })
 * ```
 *
 * @since 0.2.0
 */
export const clusterOptions: ClusterOptions = failFastClusterOptions

/** How long the Layer waits for a new connection to be ready before handing guards a store still connecting. */
const READY_WAIT_MILLIS = 1_000

/**
 * Waits (on a real timer: connecting is real I/O, and a `TestClock` must not stall it) until the client is
 * ready or the wait is over. Never fails: with Redis down at start-up, guards begin in their failure mode
 * and pick Redis up when ioredis reconnects.
 */
const awaitReady = (client: Client): Effect.Effect<void> =>
  callback<void>((resume) => {
    if (client.status === "ready") return resume(Effect.void)
    const done = () => {
      clearTimeout(timer)
      client.off("ready", done)
      resume(Effect.void)
    }
    const timer = setTimeout(done, READY_WAIT_MILLIS) // real clock: waits for a real connection
    client.once("ready", done)
    return Effect.sync(() => {
      clearTimeout(timer)
      client.off("ready", done)
    })
  })

/**
 * A Layer providing the Redis {@link Store}. Never fails for want of Redis: if it is unreachable at
 * start-up, guards start in their `onStoreFailure` mode and switch to Redis once it answers. Invalid
 * options (an empty prefix or one with whitespace or braces, an unknown `onStoreFailure`, a `timeout` under 1 ms
 * or over 1 hour)
 * fail the Layer with an `InvalidConfigError` naming the field and value, as every guard's Layer does.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitBreaker, RateLimiter } from "breakwater"
 * import * as RedisStore from "breakwater/RedisStore"
 *
 * const StoreLive = RedisStore.layer({ url: "redis://127.0.0.1:6379" }, { prefix: "orders", onStoreFailure: "local-fallback" })
 *
 * const callPartner = Effect.succeed("ok")
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     // Both shared by every instance using this Redis and prefix, under the name "partner".
 *     const limiter = yield* RateLimiter.make({ name: "partner", limitForPeriod: 50, limitRefreshPeriod: "1 second" })
 *     const breaker = yield* CircuitBreaker.make({ name: "partner" })
 *     return yield* callPartner.pipe(CircuitBreaker.withCircuitBreaker(breaker), RateLimiter.withRateLimiter(limiter))
 *   })
 * ).pipe(Effect.provide(StoreLive))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (connection: Connection, options?: Options): Layer.Layer<Store, InvalidConfigError> =>
  layerScoped(
    Store,
    Effect.gen(function*() {
      yield* decodeOptions(OptionsSchema, "RedisStore", options ?? {})
      const owned = !("client" in connection) && !("cluster" in connection)
      const client: Client = "client" in connection
        ? connection.client
        : "cluster" in connection
        ? connection.cluster
        : "clusterNodes" in connection
        ? connectCluster({ nodes: connection.clusterNodes, options: connection.clusterOptions })
        : connect("url" in connection ? connection.url : connection.options)
      if (!owned && client.options.enableOfflineQueue !== false) {
        const advice = "cluster" in connection ? "RedisStore.clusterOptions" : "RedisStore.clientOptions"
        yield* Effect.logWarning(
          `RedisStore: the client passed has enableOfflineQueue on, so while Redis is down its commands queue instead of failing and guards wait for the store's timeout on every call; give it ${advice}`
        )
      }
      const timeoutMillis = options?.timeout === undefined
        ? DEFAULT_TIMEOUT_MILLIS
        : Duration.toMillis(toDuration(options.timeout))
      const redis = yield* makeConnection(client, options?.prefix ?? "breakwater", owned, timeoutMillis)
      // A client still connecting is given a moment; a lazy one ("wait") connects when the user says so.
      if (client.status !== "wait") yield* awaitReady(client)
      const circuitBreaker = yield* makeRedisCircuitBreakerStore(redis)
      return Store.of({
        name: "redis",
        onStoreFailure: options?.onStoreFailure ?? "local-fallback",
        rateLimiter: makeRedisRateLimiterStore(redis),
        circuitBreaker
      })
    })
  )

/**
 * {@link layer} with the connection read through `effect/Config`: `REDIS_URL` (required) and
 * `REDIS_PREFIX` (optional), from the environment by default.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { ConfigProvider, Layer } from "effect"
 * import * as RedisStore from "breakwater/RedisStore"
 *
 * const StoreLive = RedisStore.layerConfig({ onStoreFailure: "fail-open" })
 * // In tests, from a map instead of the environment:
 * const provider = ConfigProvider.fromMap(new Map([["REDIS_URL", "redis://127.0.0.1:6379"]]))
 * const TestStore = StoreLive.pipe(Layer.provide(Layer.setConfigProvider(provider)))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { ConfigProvider, Layer } from "effect"
 * import * as RedisStore from "breakwater/RedisStore"
 *
 * const StoreLive = RedisStore.layerConfig({ onStoreFailure: "fail-open" })
 * // In tests, from an object instead of the environment:
 * const provider = ConfigProvider.fromUnknown({ REDIS_URL: "redis://127.0.0.1:6379" })
 * const TestStore = StoreLive.pipe(Layer.provide(ConfigProvider.layer(provider)))
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = (
  options?: Omit<Options, "prefix">
): Layer.Layer<Store, ConfigFailure | InvalidConfigError> =>
  unwrapLayer(
    Effect.map(
      Config.all({ url: stringConfig("REDIS_URL"), prefix: Config.option(stringConfig("REDIS_PREFIX")) }),
      ({ prefix, url }) =>
        layer({ url }, { ...options, ...Option.match(prefix, { onNone: () => ({}), onSome: (p) => ({ prefix: p }) }) })
    )
  )
