import { scopeProvide } from "#port"
import { collectWarnings } from "#test-port"
/**
 * Two configurations under one name (a rolling deploy changing a limiter's settings): the shared state
 * keeps the first writer's settings, so the fleet never gets the larger limit or the sum of both; an
 * instance with other settings warns once, publishes `SettingsMismatch` and counts the calls; an
 * explicit `reconfigure` takes over at once, and the stored settings give way once nobody has used them
 * for a period. Real Redis and real clock (Redis decides with its TIME), bounded: long periods kept clear
 * of a boundary, or periods of 200 ms; the file runs in about 2 s.
 */
import { type Context, Effect, Exit, Layer, ManagedRuntime, Scope, Stream } from "effect"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { InvalidConfigError } from "../../src/errors/InvalidConfigError.js"
import * as RateLimiter from "../../src/guards/RateLimiter.js"
import * as Metrics from "../../src/observability/Metrics.js"
import * as Prometheus from "../../src/observability/Prometheus.js"
import * as RedisStore from "../../src/redis/RedisStore.js"
import * as Registry from "../../src/registry/Registry.js"
import type { Store } from "../../src/store/Store.js"
import { redisTarget } from "../helpers/redisServer.js"

const target = await redisTarget()
const url = target._tag === "Available" ? target.url : ""
let admin: Redis

beforeAll(() => {
  if (target._tag === "Available") admin = new Redis(url)
})
afterAll(async () => {
  admin?.disconnect()
  if (target._tag === "Available") await target.stop()
})

let unique = 0
const fresh = (what: string) => `${what}-${process.pid}-${unique++}`

const instance = (prefix: string): Effect.Effect<Context.Context<Store>, InvalidConfigError, Scope.Scope> =>
  Layer.build(RedisStore.layer({ url }, { prefix }))

const makeOn = (store: Context.Context<Store>, options: RateLimiter.Options) =>
  RateLimiter.make(options).pipe(Effect.provide(store))

const redisNow = async () => {
  const [seconds, micros] = await admin.time()
  return Number(seconds) * 1000 + Number(micros) / 1000
}

const clearOfBoundary = async (period: number, margin: number) => {
  const left = period - ((await redisNow()) % period)
  if (left < margin) await new Promise((resolve) => setTimeout(resolve, left + 5))
}

const count = (results: ReadonlyArray<boolean>) => results.filter(Boolean).length

/** Alternates `n` tryAcquire calls between two limiters; the grants of each. */
const alternate = (a: RateLimiter.RateLimiter, b: RateLimiter.RateLimiter, n: number) =>
  Effect.gen(function*() {
    let first = 0
    let second = 0
    for (let i = 0; i < n; i++) {
      if (yield* a.tryAcquire()) first++
      if (yield* b.tryAcquire()) second++
    }
    return [first, second] as const
  })

const scrape = async (limiter: RateLimiter.RateLimiter): Promise<string> => {
  const metrics = ManagedRuntime.make(
    Prometheus.layer().pipe(Layer.provideMerge(Metrics.layer({ prefix: "mix" })), Layer.provideMerge(Registry.layer()))
  )
  const scope = await Effect.runPromise(Scope.make())
  await metrics.runPromise(
    Effect.flatMap(Metrics.Collector, (collector) => scopeProvide(collector.track(limiter), scope))
  )
  const text = await metrics.runPromise(Prometheus.scrape)
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await metrics.dispose()
  return text
}

describe.skipIf(target._tag === "Unavailable")("RateLimiter: two configurations under one name", () => {
  it.each(
    [
      ["fixed-window", { limitForPeriod: 5 }, { limitForPeriod: 50 }],
      ["token-bucket", { limitForPeriod: 5 }, { limitForPeriod: 50 }],
      ["token-bucket", { limitForPeriod: 5, capacity: 5 }, { limitForPeriod: 5, capacity: 50 }],
      ["sliding-window", { limitForPeriod: 5 }, { limitForPeriod: 50 }]
    ] as const
  )("%s: the first writer's settings %o decide for an instance with %o", async (algorithm, first, second) => {
    await clearOfBoundary(3_600_000, 5_000)
    const prefix = fresh("mixed")
    // Its own name: the metric series outlive the case (Effect's metric registry is global).
    const name = fresh("partner")
    const warnings: Array<string> = []
    const result = await Effect.runPromise(
      Effect.scoped(Effect.gen(function*() {
        const base = { name, algorithm, limitRefreshPeriod: "1 hour", timeoutDuration: 0 } as const
        const a = yield* makeOn(yield* instance(prefix), { ...base, ...first })
        const b = yield* makeOn(yield* instance(prefix), { ...base, ...second })
        const events: Array<string> = []
        yield* Effect.forkScoped(Stream.runForEach(b.events, (e) => Effect.sync(() => events.push(e._tag))))
        yield* Effect.sleep("10 millis")
        const granted = yield* alternate(a, b, 60)
        const metrics = yield* b.metrics
        const scraped = yield* Effect.promise(() => scrape(b))
        return { granted, metrics, events, scraped, aMetrics: yield* a.metrics }
      })).pipe(collectWarnings(warnings))
    )
    // Before: 3 + 47 (each call decided with its own settings, so the fleet got the larger limit).
    expect(result.granted[0] + result.granted[1]).toBe(5)
    expect(result.metrics.settingsMismatches).toBe(60)
    expect(result.aMetrics.settingsMismatches).toBe(0)
    // The instance reads the state under the settings in force: nothing left.
    expect(result.metrics.availablePermissions).toBe(0)
    expect(result.events.filter((e) => e === "SettingsMismatch")).toHaveLength(1)
    expect(warnings.filter((w) => w.includes(`'${name}'`) && w.includes("other settings"))).toHaveLength(1)
    expect(result.scraped).toContain(`mix_ratelimiter_store_settings_mismatches_total{name="${name}"} 60`)
  })

  it("reconfigure takes over at once: the other instance then follows the new settings", async () => {
    await clearOfBoundary(3_600_000, 5_000)
    const prefix = fresh("takeover")
    const result = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const options = { name: "api", limitForPeriod: 5, limitRefreshPeriod: "1 hour", timeoutDuration: 0 } as const
      const a = yield* makeOn(yield* instance(prefix), options)
      const b = yield* makeOn(yield* instance(prefix), options)
      const before = yield* alternate(a, b, 2)
      yield* a.changeLimitForPeriod(8)
      const after = yield* alternate(a, b, 10)
      return { before, after, mismatches: (yield* b.metrics).settingsMismatches }
    })))
    expect(result.before).toEqual([2, 2])
    // 4 used of the new 8: both instances now share the 8 (b with its old settings is told so).
    expect(result.after[0] + result.after[1]).toBe(4)
    expect(result.after[1]).toBeGreaterThan(0)
    expect(result.mismatches).toBe(10)
  })

  it.each(["fixed-window", "token-bucket", "sliding-window"] as const)(
    "%s: the stored settings give way once nobody has used them for a period",
    async (algorithm) => {
      const prefix = fresh("idle")
      const result = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const base = { name: "idle", algorithm, limitRefreshPeriod: "500 millis", timeoutDuration: 0 } as const
        const a = yield* makeOn(yield* instance(prefix), { ...base, limitForPeriod: 50 })
        const b = yield* makeOn(yield* instance(prefix), { ...base, limitForPeriod: 2 })
        yield* a.tryAcquire()
        const mismatched = yield* b.tryAcquire()
        // A's settings unused for more than a period (two fixed-window cycles): B's take over.
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1_100)))
        // The five calls below must fall in one cycle (and, for the bucket, within one refill) even on a
        // loaded machine: start them well clear of the next boundary.
        yield* Effect.promise(() => clearOfBoundary(500, 300))
        const own = count(yield* Effect.replicateEffect(b.tryAcquire(), 5))
        return { mismatched, own, mismatches: (yield* b.metrics).settingsMismatches }
      })))
      expect(result.mismatched).toBe(true)
      expect(result.mismatches).toBe(1)
      expect(result.own).toBe(2)
    }
  )
})
