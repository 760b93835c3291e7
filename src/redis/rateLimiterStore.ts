/**
 * The {@link RateLimiterStore} on Redis: each operation is one EVALSHA of the algorithm's script (see
 * `rateLimiterScripts.ts`), under keys `prefix:ratelimiter:<name>:<algorithm>`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { Redis } from "ioredis"
import type { StoreError } from "../Store.js"
import type { Grant, RateLimiterStore, SharedLimit } from "../store/RateLimiterStore.js"
import { fixedWindow, scripts, slidingWindow, tokenBucket } from "./rateLimiterScripts.js"
import type { RedisConnection } from "./RedisConnection.js"

type Reply = [number, string] | string
type Command = (...args: ReadonlyArray<string | number>) => Promise<Reply>

/** Defines the scripts on a client once (ioredis then runs them with EVALSHA, loading on NOSCRIPT). */
const define = (client: Redis): void => {
  for (const script of scripts) {
    if (typeof (client as unknown as Record<string, unknown>)[script.command] !== "function") {
      client.defineCommand(script.command, { numberOfKeys: script.numberOfKeys, lua: script.lua })
    }
  }
}

const toGrant = (reply: Reply): Grant => {
  const [granted, millis] = reply as [number, string]
  const value = Number(millis)
  return granted === 1
    ? { _tag: "Granted", waitMillis: value }
    : { _tag: "Refused", retryAfterMillis: value < 0 ? Number.POSITIVE_INFINITY : value }
}

export const makeRedisRateLimiterStore = (connection: RedisConnection): RateLimiterStore => {
  define(connection.client)
  /** The script's keys and settings for a limit. */
  const call = (limit: SharedLimit, op: string, rest: ReadonlyArray<number>): Effect.Effect<Reply, StoreError> =>
    connection.run(`rateLimiter.${op}`, limit.name, (client) => {
      const commands = client as unknown as Record<string, Command>
      switch (limit.algorithm) {
        case "fixed-window":
          return commands[fixedWindow.command]!(
            connection.key("ratelimiter", limit.name, "fixed"),
            op,
            limit.limitForPeriod,
            limit.periodMillis,
            ...rest
          )
        case "token-bucket":
          return commands[tokenBucket.command]!(
            connection.key("ratelimiter", limit.name, "bucket"),
            op,
            limit.limitForPeriod / limit.periodMillis,
            limit.capacity,
            ...rest
          )
        case "sliding-window":
          return commands[slidingWindow.command]!(
            connection.key("ratelimiter", limit.name, "log"),
            connection.key("ratelimiter", limit.name, "logstate"),
            op,
            limit.periodMillis,
            limit.limitForPeriod,
            ...rest
          )
      }
    })
  return {
    acquire: (limit, permits, maxWaitMillis) =>
      Effect.map(
        // Redis cannot parse "Infinity": an unbounded wait is sent as a very long one.
        call(limit, "acquire", [permits, Number.isFinite(maxWaitMillis) ? maxWaitMillis : Number.MAX_SAFE_INTEGER]),
        toGrant
      ),
    available: (limit) => Effect.map(call(limit, "available", []), Number),
    drain: (limit) => Effect.map(call(limit, "drain", []), Number)
  }
}
