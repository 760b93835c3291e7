/**
 * The {@link CircuitBreakerStore} on Redis: every operation is one EVALSHA of `circuitScript` (defined
 * once with ioredis' `defineCommand`, loaded on NOSCRIPT), atomic and timed by Redis's `TIME`; changes
 * reach every instance over pub/sub on the channel `prefix:circuit:<name>`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { Redis } from "ioredis"
import { StoreError } from "../Store.js"
import type {
  CircuitAdmission,
  CircuitBreakerStore,
  CircuitChange,
  CircuitReply,
  CircuitSettings
} from "../store/CircuitBreakerStore.js"
import { circuitScript } from "./circuitBreakerScript.js"
import type { RedisConnection } from "./RedisConnection.js"

type CircuitCommand = (
  state: string,
  window: string,
  leases: string,
  op: string,
  settings: string,
  argument: string,
  channel: string
) => Promise<string>

interface RawReply {
  readonly snapshot: CircuitReply["snapshot"]
  // cjson encodes an empty Lua table as an object.
  readonly changes: ReadonlyArray<CircuitChange> | Record<string, never>
  readonly admission?: CircuitAdmission
  readonly permitted?: boolean
}

const decode = (text: string): RawReply & CircuitReply => {
  const raw = JSON.parse(text) as RawReply
  return { ...raw, changes: Array.isArray(raw.changes) ? raw.changes : [] }
}

/**
 * Makes the Redis circuit breaker store on a connection; its subscriptions end with the scope.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { makeRedisCircuitBreakerStore } from "breakwater/redis/circuitBreakerStore"
 *
 * // RedisStore.layer does this with its connection.
 * declare const connection: Parameters<typeof makeRedisCircuitBreakerStore>[0]
 * const store = Effect.scoped(makeRedisCircuitBreakerStore(connection))
 * ```
 *
 * @since 0.1.0
 */
export const makeRedisCircuitBreakerStore = (
  connection: RedisConnection
): Effect.Effect<CircuitBreakerStore, never, Scope.Scope> =>
  Effect.gen(function*() {
    const client = connection.client
    if (typeof (client as unknown as Record<string, unknown>)[circuitScript.name] !== "function") {
      client.defineCommand(circuitScript.name, { numberOfKeys: circuitScript.numberOfKeys, lua: circuitScript.lua })
    }
    const channelOf = (name: string) => connection.key("circuit", name)
    // A breaker sends the same settings object with every call until it is reconfigured.
    const encoded = new WeakMap<CircuitSettings, string>()
    const encode = (settings: CircuitSettings) => {
      let text = encoded.get(settings)
      if (text === undefined) {
        text = JSON.stringify(settings)
        encoded.set(settings, text)
      }
      return text
    }

    const run = (
      operation: string,
      name: string,
      settings: CircuitSettings,
      argument: Record<string, unknown>
    ) =>
      Effect.map(
        connection.run(`circuitBreaker.${operation}`, name, (redis) =>
          (redis as unknown as Record<string, CircuitCommand>)[circuitScript.name]!(
            connection.key("circuit", name, "state"),
            connection.key("circuit", name, "window"),
            connection.key("circuit", name, "leases"),
            operation,
            encode(settings),
            JSON.stringify(argument),
            channelOf(name)
          )),
        decode
      )

    // One subscriber connection for all breakers: listeners by channel, subscribed while any remains.
    const listeners = new Map<string, Set<(reply: CircuitReply) => void>>()
    let attached: Redis | undefined
    const onMessage = (channel: string, message: string) => {
      const set = listeners.get(channel)
      if (set === undefined) return
      let reply: CircuitReply
      try {
        reply = decode(message)
      } catch {
        return // not ours: someone else published on the channel
      }
      for (const listener of set) listener(reply)
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => attached?.off("message", onMessage)))

    const subscribeChannel = (subscriber: Redis, channel: string, name: string) =>
      Effect.tryPromise({
        try: () => subscriber.subscribe(channel),
        catch: (cause) => new StoreError({ store: "redis", operation: "circuitBreaker.subscribe", key: name, cause })
      })

    const store: CircuitBreakerStore = {
      read: (name, settings) => Effect.map(run("read", name, settings, {}), (reply) => reply.snapshot),
      acquire: (name, settings, leaseId) =>
        Effect.map(run("acquire", name, settings, { leaseId }), (reply) => ({
          snapshot: reply.snapshot,
          changes: reply.changes,
          admission: reply.admission ?? "Refused"
        })),
      record: (name, settings, call) => run("record", name, settings, call),
      transition: (name, settings, to, openForMillis) =>
        Effect.map(
          run("transition", name, settings, openForMillis === undefined ? { to } : { to, openForMillis }),
          (reply) => ({ snapshot: reply.snapshot, changes: reply.changes, permitted: reply.permitted === true })
        ),
      reset: (name, settings) => run("reset", name, settings, {}),
      subscribe: (name, onChange) =>
        Effect.gen(function*() {
          const subscriber = yield* connection.subscriber
          if (attached === undefined) {
            attached = subscriber
            subscriber.on("message", onMessage)
          }
          const channel = channelOf(name)
          let set = listeners.get(channel)
          const first = set === undefined
          if (set === undefined) {
            set = new Set()
            listeners.set(channel, set)
          }
          set.add(onChange)
          const mine = set
          yield* Effect.addFinalizer(() =>
            Effect.suspend(() => {
              mine.delete(onChange)
              if (mine.size > 0 || listeners.get(channel) !== mine) return Effect.void
              listeners.delete(channel)
              return Effect.ignore(
                Effect.tryPromise(() => subscriber.unsubscribe(channel))
              )
            })
          )
          if (!first) return
          // Once subscribed, ioredis subscribes again by itself after every reconnection; until the first
          // success, keep trying in the background. Made while Redis is down, a breaker does not wait for
          // it (it starts in its failure mode).
          const attempt = subscribeChannel(subscriber, channel, name)
          const firstTry = client.status === "ready"
            ? yield* Effect.either(attempt)
            : yield* Effect.either(Effect.fail("not connected"))
          if (firstTry._tag === "Left") {
            yield* Effect.forkScoped(
              Effect.retry(attempt, Schedule.spaced("250 millis")).pipe(Effect.ignore)
            )
          }
        })
    }
    return store
  })
