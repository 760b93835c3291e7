/**
 * The {@link RateLimiterStore} on Redis: each operation is one EVALSHA of the algorithm's script (see
 * `rateLimiterScripts.ts`), under keys `prefix:ratelimiter:{<name>}:<algorithm>`. The hash tag around the
 * name puts all keys of one limiter in one Redis Cluster slot (the sliding window's script touches two).
 * Calls are bounded by the store's timeout (`RedisConnection.runTimed`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { MAX_LEARNED_MILLIS, MAX_LEARNED_QUOTA, sanitize } from "../../core/learnedQuota.js"
import type { Grant, QuotaTaken, RateLimiterStore, SharedLimit } from "../../store/RateLimiterStore.js"
import type { StoreError } from "../../store/Store.js"
import { fixedWindow, learnedQuota, scripts, slidingWindow, tokenBucket } from "./rateLimiterScripts.js"
import type { Client, RedisConnection } from "./RedisConnection.js"

/**
 * An integer; `[answer, 1]` when the stored settings differ from the caller's (see the scripts);
 * `[answer, 0 | 1, why]` when the stored state did not parse and was discarded.
 */
type Reply = number | [number, number] | [number, number, string]
type Command = (...args: ReadonlyArray<string | number>) => Promise<Reply>

/** Defines the scripts on a client once (ioredis then runs them with EVALSHA, loading on NOSCRIPT). */
const define = (client: Client): void => {
  for (const script of scripts) {
    if (typeof (client as unknown as Record<string, unknown>)[script.command] !== "function") {
      client.defineCommand(script.command, { numberOfKeys: script.numberOfKeys, lua: script.lua })
    }
  }
}

const answerOf = (reply: Reply): number => {
  const answer = typeof reply === "number" ? reply : Number(reply[0])
  // Decoded at the boundary: the scripts only ever answer integers.
  if (!Number.isSafeInteger(answer)) throw new Error("unexpected reply from the rate limiter script")
  return answer
}

/** A reply that does not decode is a store failure (a rejected promise), not a number. */
const checked = (reply: Reply): Reply => {
  answerOf(reply)
  return reply
}

/** The operations' names in a `StoreError`, built once rather than per call. */
const operationNames = {
  acquire: "rateLimiter.acquire",
  available: "rateLimiter.available",
  drain: "rateLimiter.drain"
} as const

/** The scripts' answer to `acquire`: waits in whole microseconds. */
const toGrant = (reply: Reply): Grant => {
  const answer = answerOf(reply)
  const grant: Grant = answer >= 0
    ? { _tag: "Granted", waitMillis: answer / 1000 }
    : { _tag: "Refused", retryAfterMillis: answer === -1 ? Number.POSITIVE_INFINITY : (-answer - 2) / 1000 }
  if (typeof reply === "number") return grant
  const differ = Number(reply[1]) === 1 ? { settingsDiffer: true as const } : {}
  const discarded = typeof reply[2] === "string" ? { stateDiscarded: reply[2] } : {}
  return { ...grant, ...differ, ...discarded }
}

/** `available` and `drain` only log a discarded state (the limiter reports those `acquire` finds). */
const logDiscarded = (name: string) => (reply: Reply): Effect.Effect<number> =>
  Effect.as(
    Array.isArray(reply) && typeof reply[2] === "string"
      ? Effect.logWarning(`RateLimiter '${name}': stored state did not parse (${reply[2]}); discarded as lost`)
      : Effect.void,
    answerOf(reply)
  )

/** The quota script's answer to `take`, decoded at the boundary: anything else is a store failure. */
const decodeTaken = (reply: unknown): QuotaTaken | undefined => {
  if (reply === -1) return undefined
  const ok = Array.isArray(reply) && reply.length === 3 &&
    (reply[0] === 0 || reply[0] === 1) &&
    Number.isSafeInteger(reply[1]) && reply[1] >= 0 && reply[1] <= MAX_LEARNED_QUOTA &&
    Number.isSafeInteger(reply[2]) && reply[2] >= 0 && reply[2] <= 2 * MAX_LEARNED_MILLIS
  if (!ok) throw new Error("unexpected reply from the learned quota script")
  return { granted: reply[0] === 1, remaining: reply[1] as number, resetAfterMillis: reply[2] as number }
}

/**
 * What a limit sends with every call, built once per `SharedLimit` (a limiter keeps one until it is
 * reconfigured): the keys and the arguments before the operation's own.
 */
interface Prepared {
  readonly run: (op: string, takeOver: string, a?: number, b?: number) => Promise<Reply>
}

export const makeRedisRateLimiterStore = (connection: RedisConnection): RateLimiterStore => {
  define(connection.client)
  const commands = connection.client as unknown as Record<string, Command>
  const fixed = commands[fixedWindow.command]!.bind(connection.client)
  const bucket = commands[tokenBucket.command]!.bind(connection.client)
  const sliding = commands[slidingWindow.command]!.bind(connection.client)
  const quota = commands[learnedQuota.command]!.bind(connection.client) as unknown as (
    ...args: ReadonlyArray<string | number>
  ) => Promise<unknown>
  const prepared = new WeakMap<SharedLimit, Prepared>()
  const prepare = (limit: SharedLimit): Prepared => {
    const key = (suffix: string) => connection.guardKey("ratelimiter", limit.name, suffix)
    const micros = limit.periodMillis * 1000
    switch (limit.algorithm) {
      case "fixed-window": {
        const k = key("fixed")
        const fp = `${limit.limitForPeriod}:${micros}`
        const n = limit.limitForPeriod
        return {
          run: (op, takeOver, a, b) =>
            a === undefined
              ? fixed(k, op, fp, takeOver, 0, 0, n, micros)
              : fixed(k, op, fp, takeOver, a, b!, n, micros)
        }
      }
      case "token-bucket": {
        const k = key("bucket")
        const fp = `${limit.limitForPeriod / micros}:${limit.capacity}`
        return {
          run: (op, takeOver, a, b) =>
            a === undefined ? bucket(k, op, fp, takeOver) : bucket(k, op, fp, takeOver, a, b!)
        }
      }
      case "sliding-window": {
        const log = key("log")
        const state = key("logstate")
        const fp = `${micros}:${limit.limitForPeriod}`
        return {
          run: (op, takeOver, a, b) =>
            a === undefined
              ? sliding(log, state, op, fp, takeOver)
              : sliding(log, state, op, fp, takeOver, a, b!)
        }
      }
    }
  }
  const preparedFor = (limit: SharedLimit): Prepared => {
    let found = prepared.get(limit)
    if (found === undefined) {
      found = prepare(limit)
      prepared.set(limit, found)
    }
    return found
  }
  const call = (
    limit: SharedLimit,
    op: keyof typeof operationNames,
    a?: number,
    b?: number
  ): Effect.Effect<Reply, StoreError> => {
    const p = preparedFor(limit)
    const takeOver = limit.takeOver === true ? "1" : "0"
    // A `then` on the client's promise, not an async function around it: one promise fewer (and its
    // microtask hops) per call on the hot path.
    return connection.runTimed(operationNames[op], limit.name, () => p.run(op, takeOver, a, b).then(checked))
  }
  return {
    acquire: (limit, permits, maxWaitMillis) =>
      Effect.map(
        // Redis cannot parse "Infinity": an unbounded wait is sent as a very long one.
        call(limit, "acquire", permits, Number.isFinite(maxWaitMillis) ? maxWaitMillis : Number.MAX_SAFE_INTEGER),
        toGrant
      ),
    available: (limit) => Effect.flatMap(call(limit, "available"), logDiscarded(limit.name)),
    drain: (limit) => Effect.flatMap(call(limit, "drain"), logDiscarded(limit.name)),
    learn: (limit, announced) => {
      const safe = sanitize(announced)
      if (safe === undefined) return Effect.void
      const key = connection.guardKey("ratelimiter", limit.name, "learned")
      return connection.runTimed("rateLimiter.learn", limit.name, async () => {
        await quota(key, "learn", safe.remaining, safe.resetAfterMillis, safe.limit ?? -1, safe.windowMillis ?? -1)
      })
    },
    takeLearned: (limit, permits) => {
      const key = connection.guardKey("ratelimiter", limit.name, "learned")
      return connection.runTimed(
        "rateLimiter.takeLearned",
        limit.name,
        async () => decodeTaken(await quota(key, "take", permits))
      )
    }
  }
}
