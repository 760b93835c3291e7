/**
 * Anyone who can write to a shared limiter's Redis can leave any value under its keys. Each case writes
 * the poison with a raw ioredis client into a real redis-server (no TTL: it would otherwise stay for
 * ever), then shows the limiter discards it as lost state (a fresh quota, an event, a metric) instead of
 * failing or refusing every call. Real clock, each case well under a second.
 */
import { scopeProvide } from "#port"
import { Effect, Stream } from "effect"
import { describe, expect, it } from "vitest"
import * as RateLimiter from "../../src/guards/RateLimiter.js"
import { poisonableRedis } from "../helpers/poisonableRedis.js"

const redis = poisonableRedis("poisonrl")
const runnable = redis.runnable
const prefix = "poisonrl"

type Algorithm = NonNullable<RateLimiter.Options["algorithm"]>

const limiter = (name: string, algorithm: Algorithm) =>
  redis.instance.runPromise(
    scopeProvide(
      RateLimiter.make({ name, algorithm, limitForPeriod: 5, limitRefreshPeriod: "10 seconds", timeoutDuration: 0 }),
      redis.scope
    )
  )

const discardedOf = (l: RateLimiter.RateLimiter) => {
  const seen: Array<string> = []
  Effect.runFork(
    Stream.runForEach(l.events, (e) => Effect.sync(() => e._tag === "StoreStateDiscarded" && seen.push(e.reason)))
  )
  return seen
}

/**
 * Waits for the next 10-second period when the current one has under 3 s left: the six acquires of a
 * case must fall in one period (aligned to the epoch, as the store's are), or the sixth is granted from
 * the next period's quota. Real clock: at most 3 s, about 0.5 s a case on average.
 */
const awayFromPeriodEnd = async () => {
  const left = 10_000 - (Date.now() % 10_000)
  if (left < 3_000) await new Promise((resolve) => setTimeout(resolve, left + 20))
}

const granted = (l: RateLimiter.RateLimiter) => redis.instance.runPromise(l.tryAcquire())
const key = (name: string, suffix: string) => `${prefix}:ratelimiter:{${name}}:${suffix}`

/** The poisons of one algorithm's key(s), each written without a TTL. */
const poisons: Record<
  Algorithm,
  ReadonlyArray<readonly [string, (name: string) => Promise<unknown>]>
> = {
  "fixed-window": [
    ["wrong type", (name) => redis.attacker.set(key(name, "fixed"), "x")],
    ["invalid fields", (name) => redis.attacker.hset(key(name, "fixed"), "k", "garbage", "u", "0", "f", "x", "s", "0")],
    // A frontier a year ahead, every permit used, no TTL: every request would be refused for a year.
    [
      "frontier beyond its expiry",
      (name) =>
        redis.attacker.hset(
          key(name, "fixed"),
          "k",
          String(Math.floor(Date.now() / 10_000) + 3_153_600),
          "u",
          "5",
          "f",
          "5:10000000",
          "s",
          "0"
        )
    ]
  ],
  "token-bucket": [
    ["wrong type", (name) => redis.attacker.rpush(key(name, "bucket"), "x")],
    [
      "invalid fields",
      (name) => redis.attacker.hset(key(name, "bucket"), "t", "nan", "l", "0", "q", "0", "f", "x", "s", "0")
    ],
    [
      "invalid time",
      (name) =>
        redis.attacker.hset(
          key(name, "bucket"),
          "t",
          "-5",
          "l",
          String(Date.now() * 1000 + 3.6e12),
          "q",
          "0",
          "f",
          "5e-7:5",
          "s",
          "0"
        )
    ]
  ],
  "sliding-window": [
    ["wrong type", (name) => redis.attacker.set(key(name, "log"), "x")],
    ["invalid entry", async (name) => {
      await redis.attacker.zadd(key(name, "log"), String(Date.now() * 1000), "garbage")
      await redis.attacker.hset(key(name, "logstate"), "c", "1", "f", "10000000:5", "s", "0")
    }],
    ["invalid fields", (name) => redis.attacker.hset(key(name, "logstate"), "c", "-1", "f", "10000000:5", "s", "x")]
  ]
}

describe.skipIf(!runnable)("a shared rate limiter whose Redis state was poisoned", () => {
  for (const [algorithm, cases] of Object.entries(poisons)) {
    it(`${algorithm}: a wrong type, unparsable fields or a far future without TTL are discarded as lost`, async () => {
      const reasons: Array<string> = []
      for (const [index, [, poison]] of cases.entries()) {
        const name = `${algorithm}-${index}`
        await awayFromPeriodEnd()
        const l = await limiter(name, algorithm as Algorithm)
        const seen = discardedOf(l)
        await new Promise((resolve) => setTimeout(resolve, 5))
        await poison(name)
        // A fresh quota of 5 in this period, not a failure or a refusal.
        const results: Array<boolean> = []
        for (let i = 0; i < 6; i++) results.push(await granted(l))
        expect(results).toEqual([true, true, true, true, true, false])
        await new Promise((resolve) => setTimeout(resolve, 5))
        reasons.push(...seen)
        const metrics = await redis.instance.runPromise(l.metrics)
        expect(metrics.storeStatesDiscarded).toBe(1)
        expect(metrics.storeOutages).toBe(0)
        // The keys the limiter left all expire.
        for (const k of await redis.attacker.keys(`${prefix}:ratelimiter:{${name}}:*`)) {
          expect(await redis.attacker.pttl(k)).toBeGreaterThan(0)
        }
      }
      expect(reasons).toEqual(cases.map(([reason]) => reason))
    })
  }
})
