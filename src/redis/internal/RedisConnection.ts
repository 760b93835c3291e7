/**
 * One Redis connection shared by the Redis stores: commands go through `run`, which turns every
 * rejection, timeout and "not connected" into a {@link StoreError} (never an unhandled rejection), and
 * pub/sub uses a second connection created on first use (a subscribed ioredis connection can run no
 * other command).
 *
 * The client is one server's (`Redis`, also behind Sentinel) or a Redis Cluster's (`Cluster`). On a
 * cluster, ioredis sends each command to the master of its key's slot and follows MOVED/ASK; scripts are
 * loaded per node connection (the first call on a connection is an EVAL, then EVALSHA, and a NOSCRIPT —
 * a node restarted, promoted or flushed — is answered by sending the script again). Pub/sub on a cluster
 * is sharded (SSUBSCRIBE/SPUBLISH, Redis 7+) where the server has it, classic otherwise.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Cluster, type ClusterNode, type ClusterOptions, Redis, type RedisOptions } from "ioredis"
import { StoreError } from "../../store/Store.js"

/** One server's client or a Redis Cluster's: both take the same commands (ioredis routes a cluster's). */
export type Client = Redis | Cluster

export interface RedisConnection {
  readonly client: Client
  /** Whether the client is a Redis Cluster's. */
  readonly isCluster: boolean
  /**
   * The command the circuit script publishes its hints with: `PUBLISH` on one server; `SPUBLISH` on a
   * cluster (the script falls back to `PUBLISH` where the server does not know it).
   */
  readonly publishCommand: "PUBLISH" | "SPUBLISH"
  /**
   * Whether subscriptions are sharded (`SSUBSCRIBE`): on a cluster whose servers have it (asked once, by
   * `COMMAND INFO`, and remembered once answered); never on one server.
   */
  readonly shardedPubSub: Effect.Effect<boolean, StoreError>
  /** The subscriber connection, created on first use and closed with the connection's scope. */
  readonly subscriber: Effect.Effect<Client>
  /** `prefix:parts...` — every key the stores touch is namespaced by the prefix. */
  readonly key: (...parts: ReadonlyArray<string>) => string
  /**
   * `prefix:kind:{<name>}:suffix`, the name encoded by {@link hashTagOf} so that every key of one guard
   * hashes to one Redis Cluster slot whatever the name.
   */
  readonly guardKey: (kind: string, name: string, suffix: string) => string
  readonly run: <A>(operation: string, key: string, f: (client: Client) => Promise<A>) => Effect.Effect<A, StoreError>
  /** The store's per-call timeout (the `timeout` option of `RedisStore.layer`). */
  readonly timeoutMillis: number
  /**
   * `run`, failing with a `StoreError` once `timeoutMillis` pass without an answer (a stalled Redis keeps
   * the TCP connection up, so ioredis would wait for its own, much longer, command timeout).
   */
  readonly runTimed: <A>(
    operation: string,
    key: string,
    f: (client: Client) => Promise<A>
  ) => Effect.Effect<A, StoreError>
}

/**
 * A guard name as a Redis Cluster hash tag, `{...}`: `%`, `{` and `}` are percent-encoded, so the tag
 * is never empty, never ends early, and two names never share a tag. Names without those characters are
 * unchanged (their keys are the same as before the encoding).
 */
export const hashTagOf = (name: string): string =>
  `{${/[%{}]/.test(name) ? name.replace(/[%{}]/g, (c) => c === "%" ? "%25" : c === "{" ? "%7B" : "%7D") : name}}`

/** The default of `timeoutMillis`. */
export const DEFAULT_TIMEOUT_MILLIS = 250

export class StoreTimeout extends Error {
  constructor(readonly millis: number) {
    super(`no answer within ${millis} ms`)
  }
}

/**
 * Deadlines of the commands in flight, checked by one real timer (the commands are real I/O: a
 * `TestClock` must not decide them) ticking every tenth of the timeout while any is pending, rather than
 * a timer per command (which costs every call a timer's creation and removal). A command therefore times
 * out between `millis` and 1.1 × `millis`. The late answer or rejection of a timed-out command is
 * consumed, so it is never unhandled.
 */
class Deadlines {
  private readonly pending = new Set<{ readonly at: number; readonly reject: (error: unknown) => void }>()
  private timer: ReturnType<typeof setInterval> | undefined

  constructor(private readonly millis: number) {}

  within<A>(promise: Promise<A>): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      const entry = { at: performance.now() + this.millis, reject } // real clock: bounds real socket I/O
      this.pending.add(entry)
      if (this.timer === undefined) {
        this.timer = setInterval(() => this.sweep(), Math.max(1, this.millis / 10)) // real clock: real I/O
        this.timer.unref()
      }
      promise.then(
        (value) => {
          this.pending.delete(entry)
          resolve(value)
        },
        (error: unknown) => {
          this.pending.delete(entry)
          reject(error)
        }
      )
    })
  }

  private sweep(): void {
    const now = performance.now() // real clock: the deadlines above are real-I/O deadlines
    for (const entry of this.pending) {
      if (entry.at > now) continue
      this.pending.delete(entry)
      entry.reject(new StoreTimeout(this.millis))
    }
    if (this.pending.size === 0) this.close()
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }
}

/**
 * Options that make a connection fail fast while Redis is down instead of queueing commands for minutes
 * (ioredis' defaults): a guard must decide within its own latency budget and fall back when it cannot.
 */
export const failFastOptions: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  commandTimeout: 1_000,
  enableAutoPipelining: true,
  // Reconnect forever, backing off to 1 s, so the stores come back on their own after an outage.
  retryStrategy: (attempts) => Math.min(50 * attempts, 1_000)
}

/**
 * {@link failFastOptions} for a Redis Cluster: no offline queue (a command for a slot whose master is
 * gone fails instead of waiting), auto-pipelining per node, the node connections' 1 s command timeout,
 * reconnection forever, and the slot map refreshed every second, so that a replica promoted by a
 * failover is found within about a second even by a client that sent nothing meanwhile.
 */
export const failFastClusterOptions: ClusterOptions = {
  enableOfflineQueue: false,
  enableAutoPipelining: true,
  clusterRetryStrategy: (attempts) => Math.min(50 * attempts, 1_000),
  slotsRefreshInterval: 1_000,
  redisOptions: { commandTimeout: 1_000, maxRetriesPerRequest: 0 }
}

/** Where a Redis Cluster is: some of its nodes (the rest are discovered) and ioredis Cluster options. */
export interface ClusterConnection {
  readonly nodes: ReadonlyArray<ClusterNode>
  readonly options?: ClusterOptions | undefined
}

export const connectCluster = ({ nodes, options }: ClusterConnection): Cluster =>
  new Cluster([...nodes], {
    ...failFastClusterOptions,
    ...options,
    redisOptions: { ...failFastClusterOptions.redisOptions, ...options?.redisOptions }
  })

/** `COMMAND INFO SSUBSCRIBE` answers `[null]` on a server without sharded pub/sub (before Redis 7). */
const hasShardedPubSub = async (client: Client): Promise<boolean> => {
  const reply = (await client.call("COMMAND", "INFO", "SSUBSCRIBE")) as ReadonlyArray<unknown>
  return Array.isArray(reply) && reply[0] !== null && reply[0] !== undefined
}

export const makeConnection = (
  client: Client,
  prefix: string,
  owned: boolean,
  timeoutMillis: number = DEFAULT_TIMEOUT_MILLIS
): Effect.Effect<RedisConnection, never, Scope.Scope> =>
  Effect.gen(function*() {
    // ioredis emits "error" on every failed reconnect; without a listener Node treats it as unhandled.
    const swallow = () => {}
    client.on("error", swallow)
    let subscriber: Client | undefined
    const isCluster = client instanceof Cluster
    let sharded: boolean | undefined = isCluster ? undefined : false
    const deadlines = new Deadlines(timeoutMillis)
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        deadlines.close()
        client.off("error", swallow)
        if (subscriber !== undefined) subscriber.disconnect()
        if (owned) client.disconnect()
      })
    )
    const key = (...parts: ReadonlyArray<string>) => [prefix, ...parts].join(":")
    const wrap = (operation: string, name: string) => (cause: unknown) =>
      new StoreError({ store: "redis", operation, key: name, cause })
    return {
      client,
      isCluster,
      publishCommand: isCluster ? "SPUBLISH" : "PUBLISH",
      shardedPubSub: Effect.suspend(() =>
        sharded !== undefined
          ? Effect.succeed(sharded)
          : Effect.tryPromise({
            try: () => deadlines.within(hasShardedPubSub(client)),
            catch: wrap("shardedPubSub", "")
          }).pipe(Effect.tap((answer) => Effect.sync(() => sharded = answer)))
      ),
      guardKey: (kind, name, suffix) => `${prefix}:${kind}:${hashTagOf(name)}:${suffix}`,
      subscriber: Effect.sync(() => {
        if (subscriber === undefined) {
          // A cluster's subscriber keeps one sharded subscriber connection per master (used only when
          // the servers have sharded pub/sub) besides its classic one.
          subscriber = client instanceof Cluster
            ? client.duplicate([], { enableOfflineQueue: true, shardedSubscribers: true })
            : client.duplicate({ enableOfflineQueue: true })
          subscriber.on("error", swallow)
        }
        return subscriber
      }),
      key,
      run: (operation, name, f) => Effect.tryPromise({ try: () => f(client), catch: wrap(operation, name) }),
      timeoutMillis,
      runTimed: (operation, name, f) =>
        Effect.tryPromise({ try: () => deadlines.within(f(client)), catch: wrap(operation, name) })
    }
  })

export const connect = (options: string | RedisOptions): Redis =>
  typeof options === "string"
    ? new Redis(options, { ...failFastOptions })
    : new Redis({ ...failFastOptions, ...options })
