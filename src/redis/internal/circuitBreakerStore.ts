/**
 * The {@link CircuitBreakerStore} on Redis: every operation is one EVALSHA of `circuitScript` (defined
 * once with ioredis' `defineCommand`, loaded on NOSCRIPT), atomic and timed by Redis's `TIME`, and
 * bounded by the store's timeout (a stalled Redis costs one timeout, then the breaker's probe period); changes
 * reach every instance over pub/sub on the channel `prefix:circuit:<name>`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { Redis } from "ioredis"
import { StoreError } from "../../Store.js"
import type {
  CircuitAdmission,
  CircuitBreakerStore,
  CircuitChange,
  CircuitReply,
  CircuitSettings,
  CircuitSnapshot
} from "../../store/CircuitBreakerStore.js"
import { circuitScript } from "./circuitBreakerScript.js"
import type { RedisConnection } from "./RedisConnection.js"

type CircuitCommand = (
  state: string,
  window: string,
  leases: string,
  ...argv: ReadonlyArray<string | number>
) => Promise<ReadonlyArray<string>>

/** The settings as the script's positional arguments (ARGV[3..15], then the take-over flag). */
const settingsArguments = (s: CircuitSettings): ReadonlyArray<string | number> => [
  s.failureRateThreshold,
  s.slowCallRateThreshold,
  s.slowCallDurationThresholdMillis,
  s.slidingWindowType,
  s.slidingWindowSize,
  s.minimumNumberOfCalls,
  s.permittedNumberOfCallsInHalfOpenState,
  s.automaticTransitionFromOpenToHalfOpenEnabled ? "1" : "0",
  s.maxWaitInHalfOpenMillis,
  s.transitionToStateAfterWaitDuration,
  s.leaseMillis,
  s.ttlMillis,
  s.waitsInOpenMillis.join(","),
  s.takeOver === true ? "1" : ""
]

const STATES: ReadonlySet<string> = new Set(["Closed", "Open", "HalfOpen", "Disabled", "ForcedOpen", "MetricsOnly"])

/** Reads the script's flat reply; anything else is a store failure, not a crash. */
const decodeReply = (reply: ReadonlyArray<string>) => {
  const state = reply[0] ?? ""
  if (!STATES.has(state) || reply.length !== 19) throw new Error(`unexpected reply from the circuit script`)
  const n = (i: number) => Number(reply[i])
  const changes = reply[14] === "" ? [] : JSON.parse(reply[14]!) as ReadonlyArray<CircuitChange>
  return {
    snapshot: {
      state: state as CircuitSnapshot["state"],
      generation: n(1),
      attempts: n(2),
      openForMillis: n(3),
      halfOpenForMillis: n(4),
      calls: n(5),
      failed: n(6),
      slow: n(7),
      slowFailed: n(8),
      totalDurationMillis: n(9),
      minimumNumberOfCalls: n(10),
      leases: n(11),
      notPermitted: n(12),
      sequence: n(13),
      incarnation: n(17),
      settingsConflict: reply[18] === "1"
    },
    changes,
    admission: (reply[15] === "" ? "Refused" : reply[15]) as CircuitAdmission,
    permitted: reply[16] === "1"
  }
}

/** A published message: `{ snapshot, changes }` (cjson writes an empty Lua table as an object). */
const decodeMessage = (text: string): CircuitReply => {
  const raw = JSON.parse(text) as { snapshot: Omit<CircuitSnapshot, "incarnation"> & { incarnation: string } }
  const changes = (raw as { changes?: unknown }).changes
  return {
    // The conflict is the publisher's, not the receiver's.
    snapshot: { ...raw.snapshot, incarnation: Number(raw.snapshot.incarnation), settingsConflict: false },
    changes: Array.isArray(changes) ? changes : []
  }
}

/**
 * Makes the Redis circuit breaker store on a connection; its subscriptions end with the scope.
 *
 * @internal
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
    const encoded = new WeakMap<CircuitSettings, ReadonlyArray<string | number>>()
    const encode = (settings: CircuitSettings) => {
      let args = encoded.get(settings)
      if (args === undefined) {
        args = settingsArguments(settings)
        encoded.set(settings, args)
      }
      return args
    }

    const run = (
      operation: string,
      name: string,
      settings: CircuitSettings,
      argv: ReadonlyArray<string | number>
    ) =>
      connection.runTimed(`circuitBreaker.${operation}`, name, async (redis) =>
        decodeReply(
          await (redis as unknown as Record<string, CircuitCommand>)[circuitScript.name]!(
            connection.key("circuit", `{${name}}`, "state"),
            connection.key("circuit", `{${name}}`, "window"),
            connection.key("circuit", `{${name}}`, "leases"),
            operation,
            channelOf(name),
            ...encode(settings),
            ...argv
          )
        ))

    // One subscriber connection for all breakers: listeners by channel, subscribed while any remains.
    const listeners = new Map<string, Set<(reply: CircuitReply) => void>>()
    const gapListeners = new Map<(reply: CircuitReply) => void, () => void>()
    let attached: Redis | undefined
    // Messages published while the subscriber was disconnected are lost: once it is subscribed again,
    // every breaker re-reads its state. ioredis resubscribes after emitting "ready", so subscribe here
    // first (a no-op for channels it already has) to read only once nothing more can be missed.
    const onReady = () => {
      const subscriber = attached
      const channels = [...listeners.keys()]
      if (subscriber === undefined || channels.length === 0) return
      subscriber.subscribe(...channels).then(
        () => {
          for (const resync of gapListeners.values()) resync()
        },
        () => {} // disconnected again: the next "ready" retries
      )
    }
    const onMessage = (channel: string, message: string) => {
      const set = listeners.get(channel)
      if (set === undefined) return
      let reply: CircuitReply
      try {
        reply = decodeMessage(message)
      } catch {
        return // not ours: someone else published on the channel
      }
      for (const listener of set) listener(reply)
    }
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        attached?.off("message", onMessage)
        attached?.off("ready", onReady)
      })
    )

    const subscribeChannel = (subscriber: Redis, channel: string, name: string) =>
      Effect.tryPromise({
        try: () => subscriber.subscribe(channel),
        catch: (cause) => new StoreError({ store: "redis", operation: "circuitBreaker.subscribe", key: name, cause })
      })

    const store: CircuitBreakerStore = {
      read: (name, settings) => Effect.map(run("read", name, settings, []), (reply) => reply.snapshot),
      acquire: (name, settings, leaseId) =>
        Effect.map(run("acquire", name, settings, [leaseId]), ({ admission, changes, snapshot }) => ({
          snapshot,
          changes,
          admission
        })),
      renew: (name, settings, leaseId) =>
        Effect.map(run("renew", name, settings, [leaseId]), ({ changes, snapshot }) => ({ snapshot, changes })),
      record: (name, settings, call) =>
        Effect.map(
          run("record", name, settings, [
            call.generation,
            call.durationMillis,
            call.outcome,
            call.leaseId ?? "",
            call.incarnation ?? ""
          ]),
          ({ changes, snapshot }) => ({ snapshot, changes })
        ),
      transition: (name, settings, to, openForMillis) =>
        Effect.map(
          run("transition", name, settings, [to, openForMillis ?? ""]),
          ({ changes, permitted, snapshot }) => ({ snapshot, changes, permitted })
        ),
      reset: (name, settings) =>
        Effect.map(run("reset", name, settings, []), ({ changes, snapshot }) => ({ snapshot, changes })),
      subscribe: (name, onChange, onGap) =>
        Effect.gen(function*() {
          const subscriber = yield* connection.subscriber
          if (attached === undefined) {
            attached = subscriber
            subscriber.on("message", onMessage)
            subscriber.on("ready", onReady)
          }
          if (onGap !== undefined) gapListeners.set(onChange, onGap)
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
              gapListeners.delete(onChange)
              if (mine.size > 0 || listeners.get(channel) !== mine) return Effect.void
              listeners.delete(channel)
              // Bounded like every store call: a stalled Redis must not hold up closing the breaker.
              return Effect.ignore(
                connection.runTimed("circuitBreaker.unsubscribe", name, () => subscriber.unsubscribe(channel))
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
