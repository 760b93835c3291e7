/**
 * The {@link RateLimiterStore} on Redis: each operation is one EVALSHA of the algorithm's script (see
 * `rateLimiterScripts.ts`), under keys `prefix:ratelimiter:<name>:<algorithm>` (the fixed window's
 * ends with its period in milliseconds: a new period starts afresh).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { Redis } from "ioredis"
import type { StoreError } from "../../Store.js"
import type { Grant, RateLimiterStore, SharedLimit } from "../../store/RateLimiterStore.js"
import { fixedWindow, scripts, slidingWindow, tokenBucket } from "./rateLimiterScripts.js"
import type { RedisConnection } from "./RedisConnection.js"

type Reply = number
type Command = (...args: ReadonlyArray<string | number>) => Promise<Reply>

/** Defines the scripts on a client once (ioredis then runs them with EVALSHA, loading on NOSCRIPT). */
const define = (client: Redis): void => {
  for (const script of scripts) {
    if (typeof (client as unknown as Record<string, unknown>)[script.command] !== "function") {
      client.defineCommand(script.command, { numberOfKeys: script.numberOfKeys, lua: script.lua })
    }
  }
}

/** The scripts' answer to `acquire` (see `rateLimiterScripts.ts`): waits in whole microseconds. */
const toGrant = (reply: Reply): Grant =>
  reply >= 0
    ? { _tag: "Granted", waitMillis: reply / 1000 }
    : { _tag: "Refused", retryAfterMillis: reply === -1 ? Number.POSITIVE_INFINITY : (-reply - 2) / 1000 }

/** A limiter's keys, computed once per name. */
interface Keys {
  /** Without the period, which the fixed window's key ends with. */
  readonly fixed: string
  readonly bucket: string
  readonly log: string
  readonly logState: string
}

export const makeRedisRateLimiterStore = (connection: RedisConnection): RateLimiterStore => {
  define(connection.client)
  const commands = connection.client as unknown as Record<string, Command>
  const fixed = commands[fixedWindow.command]!.bind(connection.client)
  const bucket = commands[tokenBucket.command]!.bind(connection.client)
  const sliding = commands[slidingWindow.command]!.bind(connection.client)
  const keys = new Map<string, Keys>()
  const keysOf = (name: string): Keys => {
    let found = keys.get(name)
    if (found === undefined) {
      // Bounded by the limiters made with this store (a keyed limiter's keys come and go with their TTLs).
      if (keys.size >= 10_000) keys.clear()
      const key = (suffix: string) => connection.key("ratelimiter", name, suffix)
      found = { fixed: `${key("fixed")}:`, bucket: key("bucket"), log: key("log"), logState: key("logstate") }
      keys.set(name, found)
    }
    return found
  }
  /** The script's keys and settings for a limit, then the operation's arguments. */
  const call = (limit: SharedLimit, op: string, a?: number, b?: number): Effect.Effect<Reply, StoreError> =>
    connection.run(`rateLimiter.${op}`, limit.name, () => {
      const k = keysOf(limit.name)
      switch (limit.algorithm) {
        case "fixed-window":
          return a === undefined
            ? fixed(k.fixed + limit.periodMillis, op, limit.limitForPeriod, limit.periodMillis)
            : fixed(k.fixed + limit.periodMillis, op, limit.limitForPeriod, limit.periodMillis, a, b!)
        case "token-bucket": {
          const rate = limit.limitForPeriod / limit.periodMillis
          return a === undefined
            ? bucket(k.bucket, op, rate, limit.capacity)
            : bucket(k.bucket, op, rate, limit.capacity, a, b!)
        }
        case "sliding-window":
          return a === undefined
            ? sliding(k.log, k.logState, op, limit.periodMillis, limit.limitForPeriod)
            : sliding(k.log, k.logState, op, limit.periodMillis, limit.limitForPeriod, a, b!)
      }
    })
  return {
    acquire: (limit, permits, maxWaitMillis) =>
      Effect.map(
        // Redis cannot parse "Infinity": an unbounded wait is sent as a very long one.
        call(limit, "acquire", permits, Number.isFinite(maxWaitMillis) ? maxWaitMillis : Number.MAX_SAFE_INTEGER),
        toGrant
      ),
    available: (limit) => call(limit, "available"),
    drain: (limit) => call(limit, "drain")
  }
}
