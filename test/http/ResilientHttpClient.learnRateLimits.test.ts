/**
 * `learnRateLimits`: the quota an upstream announces in its headers holds the client (and, through a
 * shared Store, the whole fleet) back BEFORE the upstream answers 429. A real loopback HTTP server that
 * enforces and announces its quota, real clients (undici; Effect 4 under Node < 22.19: node:http), and a REAL Redis (test/helpers/redisServer.ts)
 * shared by two client instances, each with its own connection, as two processes would. Real clock, each
 * case a few round trips.
 */
import { configFromEnv, withConfig } from "#test-port"
import { realClient } from "#test-port/http"
import { Effect, ManagedRuntime } from "effect"
import { Redis } from "ioredis"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { InvalidConfigError } from "../../src/errors/InvalidConfigError.js"
import * as ResilientHttpClient from "../../src/http/ResilientHttpClient.js"
import * as RedisStore from "../../src/redis/RedisStore.js"
import type { Store } from "../../src/store/Store.js"
import { redisTarget } from "../helpers/redisServer.js"

type Style = "ietf" | "legacy"

/** An upstream allowing `quota` calls per minute, announcing what is left in the given style. */
const upstream = async (quota: number, style: Style) => {
  const counts = { served: 0, throttled: 0 }
  const server = http.createServer((_request, response) => {
    const left = quota - counts.served
    if (left <= 0) {
      counts.throttled++
      response.writeHead(429, { "retry-after": "60" }).end("slow down")
      return
    }
    counts.served++
    const headers: Record<string, string> = style === "ietf"
      ? { "ratelimit-policy": `"default";q=${quota};w=60`, ratelimit: `"default";r=${left - 1};t=60` }
      : { "x-ratelimit-limit": `${quota}`, "x-ratelimit-remaining": `${left - 1}`, "x-ratelimit-reset": "60" }
    response.writeHead(200, { ...headers, "content-type": "application/json" }).end("{}")
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/items`
  return { url, counts, close: () => new Promise((resolve) => server.close(resolve)) }
}

const options: ResilientHttpClient.Options = {
  name: "partner",
  learnRateLimits: true,
  rateLimiter: { limitForPeriod: 1_000, limitRefreshPeriod: "1 second", timeoutDuration: 0 },
  circuitBreaker: false,
  retry: false
}

/** `calls` GETs, one after another: each a status, or the tag of the refusal. */
const callMany = (url: string, calls: number) =>
  Effect.scoped(Effect.gen(function*() {
    const resilience = yield* ResilientHttpClient.make(options)
    const base = yield* realClient
    const client = ResilientHttpClient.wrap(base, resilience)
    const outcomes: Array<number | string> = []
    for (let i = 0; i < calls; i++) {
      outcomes.push(
        yield* Effect.match(client.get(url), {
          onSuccess: (response): number | string => response.status,
          onFailure: (error) => (error as { _tag: string })._tag
        })
      )
    }
    return outcomes
  }))

describe("learnRateLimits in process (real sockets)", () => {
  for (const style of ["ietf", "legacy"] as const) {
    it(`stops at the announced quota (${style} headers) without ever seeing a 429`, async () => {
      const server = await upstream(3, style)
      try {
        const outcomes = await Effect.runPromise(callMany(server.url, 6))
        expect(outcomes).toEqual([
          200,
          200,
          200,
          "RequestNotPermittedError",
          "RequestNotPermittedError",
          "RequestNotPermittedError"
        ])
        expect(server.counts).toEqual({ served: 3, throttled: 0 })
      } finally {
        await server.close()
      }
    })
  }

  it("without learnRateLimits the upstream answers 429", async () => {
    const server = await upstream(2, "ietf")
    try {
      const plain = Effect.scoped(Effect.gen(function*() {
        const resilience = yield* ResilientHttpClient.make({ ...options, learnRateLimits: false })
        const base = yield* realClient
        const client = ResilientHttpClient.wrap(base, resilience)
        for (let i = 0; i < 3; i++) yield* Effect.exit(client.get(server.url))
      }))
      await Effect.runPromise(plain)
      expect(server.counts).toEqual({ served: 2, throttled: 1 })
    } finally {
      await server.close()
    }
  })

  it("learnRateLimits is read from the environment like the other options", async () => {
    const provider = configFromEnv({ PARTNERS_LEARN_RATE_LIMITS: "true", PARTNERS_RATE_LIMITER_LIMIT_FOR_PERIOD: "10" })
    const read = await Effect.runPromise(withConfig(provider)(ResilientHttpClient.config("partners")))
    expect(read.learnRateLimits).toBe(true)
    expect(read.rateLimiter).toEqual({ limitForPeriod: 10 })
  })

  it("learnRateLimits without a rateLimiter is a typed configuration error", async () => {
    const error = await Effect.runPromise(
      Effect.flip(Effect.scoped(ResilientHttpClient.make({ name: "bad", learnRateLimits: true })))
    )
    expect(error._tag).toBe("InvalidConfigError")
    expect(JSON.stringify(error)).toContain("learnRateLimits")
  })
})

const target = await redisTarget()
const available = target._tag === "Available"
// Unique per run: a REDIS_URL server may keep an earlier run's keys.
const prefix = `learn-${process.pid}-${Date.now()}`

describe.skipIf(!available)("learnRateLimits shared through a real Redis", () => {
  let first: ManagedRuntime.ManagedRuntime<Store, InvalidConfigError> | undefined
  let second: ManagedRuntime.ManagedRuntime<Store, InvalidConfigError> | undefined
  let raw: Redis | undefined
  const url = target._tag === "Available" ? target.url : ""

  beforeAll(async () => {
    first = ManagedRuntime.make(RedisStore.layer({ url }, { prefix }))
    second = ManagedRuntime.make(RedisStore.layer({ url }, { prefix }))
    raw = new Redis(url)
  })

  afterAll(async () => {
    await first?.dispose()
    await second?.dispose()
    raw?.disconnect()
    if (target._tag === "Available") await target.stop()
  })

  it("after one instance learned the quota, the other is refused before the upstream says 429", async () => {
    const server = await upstream(5, "ietf")
    try {
      // The first instance makes one call and learns "4 left for 60 s".
      expect(await first!.runPromise(callMany(server.url, 1))).toEqual([200])
      // The second never saw the upstream: it spends the 4 and is refused from then on.
      const outcomes = await second!.runPromise(callMany(server.url, 8))
      expect(outcomes.filter((o) => o === 200)).toHaveLength(4)
      expect(outcomes.slice(4)).toEqual(Array(4).fill("RequestNotPermittedError"))
      // The upstream saw no more than its quota, and never had to say 429.
      expect(server.counts).toEqual({ served: 5, throttled: 0 })
      // The quota lives in Redis, with an expiry (at most the reset plus the announced window).
      const key = (await raw!.keys(`${prefix}:ratelimiter:*:learned`))[0]!
      const ttl = await raw!.pttl(key)
      expect(ttl).toBeGreaterThan(60_000)
      expect(ttl).toBeLessThanOrEqual(120_000)
    } finally {
      await server.close()
    }
  })

  it("a poisoned learned quota in Redis is discarded, not obeyed", async () => {
    const server = await upstream(100, "ietf")
    try {
      const name = "partner:127.0.0.1:" + new URL(server.url).port
      const key = `${prefix}:ratelimiter:{${name}}:learned`
      // Anyone who can write to Redis: a quota of 0 until the year 2286, and one that is not a number.
      await raw!.hset(key, "r", "0", "t", "9999999999999")
      const outcomes = await second!.runPromise(callMany(server.url, 1))
      expect(outcomes).toEqual([200])
      // The right key: replaced by what the upstream announced (99 left).
      expect(await raw!.hget(key, "r")).toBe("99")
      await raw!.hset(key, "r", "lots")
      expect(await second!.runPromise(callMany(server.url, 1))).toEqual([200])
      expect(await raw!.hget(key, "r")).toBe("98")
      expect(server.counts.served).toBe(2)
    } finally {
      await server.close()
    }
  })
})
