/**
 * The {@link CircuitBreakerStore} on Redis: every operation is one EVALSHA of `circuitScript` (defined
 * once with ioredis' `defineCommand`, loaded on NOSCRIPT), atomic and timed by Redis's `TIME`, and
 * bounded by the store's timeout (a stalled Redis costs one timeout, then the breaker's probe period); changes
 * reach every instance over pub/sub on the channel `prefix:circuit:{<name>}:changes` — sharded pub/sub on a
 * Redis Cluster whose servers have it (the channel is in the breaker's slot), classic pub/sub otherwise.
 *
 * @internal
 */
import { literals, parseJson, refine, union } from "#port"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type {
  CircuitAdmission,
  CircuitBreakerStore,
  CircuitChange,
  CircuitSettings,
  CircuitSnapshot
} from "../../store/CircuitBreakerStore.js"
import { StoreError } from "../../store/Store.js"
import { circuitScript } from "./circuitBreakerScript.js"
import type { Client, RedisConnection } from "./RedisConnection.js"

type CircuitCommand = (
  state: string,
  window: string,
  leases: string,
  log: string,
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

const STATE_NAMES = ["Closed", "Open", "HalfOpen", "Disabled", "ForcedOpen", "MetricsOnly"] as const
const StateName = literals(...STATE_NAMES)
/** Redis time in microseconds, as digits. */
const INCARNATION = /^\d{1,16}$/
const Sequence = Schema.Int.pipe(refine((n: number) => n >= 0 || "must be >= 0"))

const Change = union(
  Schema.Struct({ _tag: Schema.Literal("Transition"), from: StateName, to: StateName, sequence: Sequence }),
  Schema.Struct({
    _tag: literals("FailureRateExceeded", "SlowCallRateExceeded"),
    rate: Schema.Number,
    sequence: Sequence
  }),
  Schema.Struct({ _tag: Schema.Literal("Reset"), sequence: Sequence })
)
const decodeChanges = Schema.decodeUnknownSync(parseJson(Schema.Array(Change)))

const STATES: ReadonlySet<string> = new Set(STATE_NAMES)
const ADMISSIONS: ReadonlySet<string> = new Set(["", "Permitted", "Trial", "Refused"])

/** The script's reply, decoded once (in {@link decodeReply}). */
interface Reply {
  readonly snapshot: CircuitSnapshot
  readonly changes: ReadonlyArray<CircuitChange>
  readonly admission: CircuitAdmission
  readonly permitted: boolean
  readonly logged: string
}

/** Why a reply is refused; thrown inside the store call, so it becomes a `StoreError` there. */
class InvalidReply extends Error {
  constructor(why: string) {
    super(`invalid circuit script reply: ${why}`)
  }
}

/**
 * Reads the script's reply, a flat array of 21 strings (see `circuitScript`), checked field by field;
 * anything else throws, which the store call turns into a store failure, not a crash. A plain function
 * rather than a `Tuple` of 21 number schemas: the same checks at a fraction of the cost (measured: a
 * schema transformation ~10 µs, the tuple ~45 µs per reply on a loaded 2-core host; the reply of every
 * recorded call goes through here), written once for both Effects' schema APIs.
 */
const decodeReply = (reply: unknown): Reply => {
  const invalid = (why: string) => new InvalidReply(why)
  if (!Array.isArray(reply) || !reply.every((field) => typeof field === "string")) {
    throw invalid("expected an array of strings")
  }
  const fields = reply as ReadonlyArray<string>
  if (fields.length !== 21) throw invalid("expected 21 fields")
  const state = fields[0]!
  if (!STATES.has(state)) throw invalid(`not a state: ${state}`)
  const numbers: Array<number> = []
  for (let i = 1; i <= 13; i++) {
    const n = Number(fields[i])
    // Rates and durations may be fractional; the rest are whole numbers.
    if (fields[i] === "" || !Number.isFinite(n) || (i !== 3 && i !== 4 && i !== 9 && !Number.isInteger(n))) {
      throw invalid(`field ${i}: ${fields[i]}`)
    }
    numbers.push(n)
  }
  if (!ADMISSIONS.has(fields[15]!) || (fields[16] !== "" && fields[16] !== "0" && fields[16] !== "1")) {
    throw invalid("admission")
  }
  if (!INCARNATION.test(fields[17]!) || (fields[18] !== "" && fields[18] !== "1")) throw invalid("incarnation")
  return {
    snapshot: {
      state: state as CircuitSnapshot["state"],
      generation: numbers[0]!,
      attempts: numbers[1]!,
      openForMillis: numbers[2]!,
      halfOpenForMillis: numbers[3]!,
      calls: numbers[4]!,
      failed: numbers[5]!,
      slow: numbers[6]!,
      slowFailed: numbers[7]!,
      totalDurationMillis: numbers[8]!,
      minimumNumberOfCalls: numbers[9]!,
      leases: numbers[10]!,
      notPermitted: numbers[11]!,
      sequence: numbers[12]!,
      incarnation: Number(fields[17]),
      settingsConflict: fields[18] === "1",
      ...(fields[19] === "" ? {} : { stateDiscarded: fields[19]! })
    } satisfies CircuitSnapshot,
    // Changes of this very operation (rare): decoded in full.
    changes: fields[14] === "" ? [] : decodeChanges(fields[14]) as ReadonlyArray<CircuitChange>,
    admission: (fields[15] === "" ? "Refused" : fields[15]) as CircuitAdmission,
    permitted: fields[16] === "1",
    logged: fields[20]!
  }
}

const decodeLog = Schema.decodeUnknownOption(parseJson(Schema.Array(Schema.Unknown)))
const decodeChange = Schema.decodeUnknownOption(Change)

/**
 * The changes a reader following the state has not seen: each logged entry decoded on its own (one that
 * does not decode is dropped, not the reply), only those after `since` and up to the state's sequence.
 */
const loggedChanges = (text: string, since: number, upTo: number): ReadonlyArray<CircuitChange> => {
  if (text === "") return []
  const entries = Option.getOrElse(decodeLog(text), () => [])
  const changes: Array<CircuitChange> = []
  for (const entry of entries) {
    const change = Option.getOrUndefined(decodeChange(entry))
    if (change !== undefined && change.sequence > since && change.sequence <= upTo) changes.push(change)
  }
  return changes
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
    // In the guard's slot too, so a Redis Cluster can carry it as a sharded channel.
    const channelOf = (name: string) => connection.guardKey("circuit", name, "changes")
    const publishTo = (name: string) => `${connection.publishCommand} ${channelOf(name)}`
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
            connection.guardKey("circuit", name, "state"),
            connection.guardKey("circuit", name, "window"),
            connection.guardKey("circuit", name, "leases"),
            connection.guardKey("circuit", name, "log"),
            operation,
            publishTo(name),
            ...encode(settings),
            ...argv
          )
        ))

    // One subscriber connection for all breakers: listeners by channel, subscribed while any remains.
    const listeners = new Map<string, Set<() => void>>()
    let attached: Client | undefined
    const readAll = () => {
      for (const set of listeners.values()) for (const listener of set) listener()
    }
    // Messages published while the subscriber was disconnected are lost: once it is subscribed again,
    // every breaker re-reads its state. ioredis resubscribes after emitting "ready", so subscribe here
    // first (a no-op for channels it already has) to read only once nothing more can be missed.
    const onReady = () => {
      const subscriber = attached
      const channels = [...listeners.keys()]
      if (subscriber === undefined || channels.length === 0) return
      subscriber.subscribe(...channels).then(
        readAll,
        () => {} // disconnected again: the next "ready" retries
      )
    }
    // On a cluster, ioredis moves and resubscribes the subscriptions itself when a node fails or a slot
    // moves (channels of several slots cannot be subscribed in one command): every breaker re-reads its
    // state once a subscriber connection is back, and whenever a node joins or leaves (a failover: the
    // promoted replica may lack the last writes, and the state found there is the state).
    const onSubscriberBack = () => readAll()
    // Anyone who can PUBLISH can write on the channel: a message is only a hint to read the state, its
    // content is never read.
    const onMessage = (channel: string) => {
      const set = listeners.get(channel)
      if (set === undefined) return
      for (const listener of set) listener()
    }
    const clusterEvents = ["+subscriber", "subscribersReady", "+node", "-node"] as const
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        attached?.off("message", onMessage)
        attached?.off("smessage", onMessage)
        attached?.off("ready", connection.isCluster ? onSubscriberBack : onReady)
        for (const event of clusterEvents) attached?.off(event, onSubscriberBack)
      })
    )
    const attach = (subscriber: Client) => {
      attached = subscriber
      subscriber.on("message", onMessage)
      if (!connection.isCluster) {
        subscriber.on("ready", onReady)
        return
      }
      subscriber.on("smessage", onMessage)
      subscriber.on("ready", onSubscriberBack)
      for (const event of clusterEvents) subscriber.on(event, onSubscriberBack)
    }

    const subscribeChannel = (subscriber: Client, channel: string, name: string) =>
      Effect.flatMap(connection.shardedPubSub, (sharded) =>
        Effect.tryPromise({
          try: () => sharded ? subscriber.ssubscribe(channel) : subscriber.subscribe(channel),
          catch: (cause) => new StoreError({ store: "redis", operation: "circuitBreaker.subscribe", key: name, cause })
        }))
    const unsubscribeChannel = (subscriber: Client, channel: string, name: string) =>
      Effect.flatMap(connection.shardedPubSub, (sharded) =>
        connection.runTimed(
          "circuitBreaker.unsubscribe",
          name,
          () => sharded ? subscriber.sunsubscribe(channel) : subscriber.unsubscribe(channel)
        ))

    const store: CircuitBreakerStore = {
      read: (name, settings) => Effect.map(run("read", name, settings, ["", ""]), (reply) => reply.snapshot),
      follow: (name, settings, since) =>
        Effect.map(
          run("read", name, settings, [since.incarnation, since.sequence]),
          ({ logged, snapshot }) => ({
            snapshot,
            changes: snapshot.incarnation === since.incarnation
              ? loggedChanges(logged, since.sequence, snapshot.sequence)
              : []
          })
        ),
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
      subscribe: (name, onChange) =>
        Effect.gen(function*() {
          const subscriber = yield* connection.subscriber
          if (attached === undefined) attach(subscriber)
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
              // Bounded like every store call: a stalled Redis must not hold up closing the breaker.
              return Effect.ignore(unsubscribeChannel(subscriber, channel, name))
            })
          )
          if (!first) return
          // Once subscribed, ioredis subscribes again by itself after every reconnection; until the first
          // success, keep trying in the background. Made while Redis is down, a breaker does not wait for
          // it (it starts in its failure mode).
          const attempt = subscribeChannel(subscriber, channel, name)
          const subscribed = client.status === "ready" &&
            (yield* Effect.match(attempt, { onFailure: () => false, onSuccess: () => true }))
          if (!subscribed) {
            yield* Effect.forkScoped(
              Effect.retry(attempt, Schedule.spaced("250 millis")).pipe(Effect.ignore)
            )
          }
        })
    }
    return store
  })
