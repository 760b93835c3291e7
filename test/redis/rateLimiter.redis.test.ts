/**
 * RateLimiter on the Redis store: the same interface as in process, with the state shared by every
 * instance through a real Redis (never a mock). Decisions use Redis's clock, so these tests run on the
 * real clock, bounded: periods are either long (with the test kept clear of a cycle boundary) or a few
 * hundred milliseconds; the file runs in about 3 s.
 */
import { defectOf, failureOf, forkChild } from "#port"
import { collectWarnings, configFromJson, TestClock, withConfig, withTestClock } from "#test-port"
import { type Context, Duration, Effect, Exit, Fiber, Layer, Option, Schedule, Stream } from "effect"
import type * as Scope from "effect/Scope"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { InvalidConfigError } from "../../src/errors/InvalidConfigError.js"
import * as RateLimiter from "../../src/guards/RateLimiter.js"
import * as RedisStore from "../../src/redis/RedisStore.js"
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

/** Builds a store Layer (its own connection) into the surrounding scope: one "instance" of a service. */
const instance = (
  prefix: string,
  options?: RedisStore.Options
): Effect.Effect<Context.Context<Store>, InvalidConfigError, Scope.Scope> =>
  Layer.build(RedisStore.layer({ url }, { prefix, ...options }))

const makeOn = (store: Context.Context<Store>, options: RateLimiter.Options) =>
  RateLimiter.make(options).pipe(Effect.provide(store))

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Effect.scoped(effect))

const redisNow = async () => {
  const [seconds, micros] = await admin.time()
  return Number(seconds) * 1000 + Number(micros) / 1000
}

/** Waits, if needed, until Redis's clock is at least `margin` ms away from the next cycle boundary. */
const clearOfBoundary = async (period: number, margin: number) => {
  const left = period - ((await redisNow()) % period)
  if (left < margin) await new Promise((resolve) => setTimeout(resolve, left + 5))
}

const count = (results: ReadonlyArray<boolean>) => results.filter(Boolean).length

describe.skipIf(target._tag === "Unavailable")("RateLimiter sharing a Redis store", () => {
  it("two instances (two connections) share one limit", async () => {
    await clearOfBoundary(60_000, 2_000)
    const prefix = fresh("share")
    const results = await run(Effect.gen(function*() {
      const options: RateLimiter.Options = {
        name: "partner",
        limitForPeriod: 5,
        limitRefreshPeriod: "1 minute",
        timeoutDuration: 0
      }
      const a = yield* makeOn(yield* instance(prefix), options)
      const b = yield* makeOn(yield* instance(prefix), options)
      const out: Array<boolean> = []
      for (let i = 0; i < 6; i++) out.push(yield* a.tryAcquire(), yield* b.tryAcquire())
      return out
    }))
    expect(count(results)).toBe(5)
  })

  it.each(["fixed-window", "token-bucket", "sliding-window"] as const)(
    "%s is atomic: 300 concurrent fibers on 3 connections get exactly the limit",
    async (algorithm) => {
      await clearOfBoundary(3_600_000, 5_000)
      const prefix = fresh("atomic")
      const results = await run(Effect.gen(function*() {
        const options: RateLimiter.Options = {
          name: "hot",
          algorithm,
          limitForPeriod: 50,
          limitRefreshPeriod: "1 hour",
          timeoutDuration: 0
        }
        const limiters = [
          yield* makeOn(yield* instance(prefix), options),
          yield* makeOn(yield* instance(prefix), options),
          yield* makeOn(yield* instance(prefix), options)
        ]
        return yield* Effect.all(
          Array.from({ length: 300 }, (_, i) => limiters[i % 3]!.tryAcquire()),
          { concurrency: "unbounded" }
        )
      }))
      expect(count(results)).toBe(50)
    }
  )

  it("acquire reserves the next cycle and waits for it; waiting fibers and events are reported", async () => {
    const prefix = fresh("wait")
    const result = await run(Effect.gen(function*() {
      const limiter = yield* makeOn(yield* instance(prefix), {
        name: "slow",
        limitForPeriod: 2,
        limitRefreshPeriod: "300 millis",
        timeoutDuration: "1 second"
      })
      const events: Array<RateLimiter.Event> = []
      const listener = yield* forkChild(Stream.runForEach(limiter.events, (e) => Effect.sync(() => events.push(e))))
      yield* Effect.sleep("20 millis")
      yield* limiter.acquire(2)
      const start = Date.now()
      const waiter = yield* forkChild(limiter.acquire(2))
      // The waiter counts as waiting once Redis has answered with its reservation: a round trip that
      // takes longer than a few milliseconds on a loaded machine, so look until it shows (bounded).
      let during = yield* limiter.metrics
      for (let i = 0; i < 100 && during.numberOfWaitingFibers === 0; i++) {
        yield* Effect.sleep("2 millis")
        during = yield* limiter.metrics
      }
      yield* Fiber.join(waiter)
      const waited = Date.now() - start
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(listener)
      return { during, waited, events: events.map((e) => e._tag) }
    }))
    expect(result.during.numberOfWaitingFibers).toBe(1)
    expect(result.during.availablePermissions).toBeLessThan(0)
    expect(result.waited).toBeLessThanOrEqual(330)
    expect(result.events).toEqual(["SuccessfulAcquire", "SuccessfulAcquire"])
  })

  it("refuses beyond the timeout with Redis's retryAfter; withRateLimiter and policy guard calls", async () => {
    await clearOfBoundary(60_000, 2_000)
    const prefix = fresh("refuse")
    const result = await run(Effect.gen(function*() {
      const limiter = yield* makeOn(yield* instance(prefix), {
        name: "strict",
        limitForPeriod: 2,
        limitRefreshPeriod: "1 minute",
        timeoutDuration: 0
      })
      const first = yield* Effect.exit(RateLimiter.withRateLimiter(Effect.succeed("ok"), limiter))
      const second = yield* Effect.exit(RateLimiter.policy(limiter)(Effect.succeed("ok")))
      const third = yield* Effect.flip(RateLimiter.withRateLimiter(Effect.succeed("ok"), limiter))
      const tooMany = yield* Effect.flip(limiter.acquire(3))
      return { first, second, third, tooMany, metrics: yield* limiter.metrics }
    }))
    expect(result.first).toEqual(Exit.succeed("ok"))
    expect(result.second).toEqual(Exit.succeed("ok"))
    const retryAfter = Option.getOrThrow(result.third.retryAfter)
    expect(Duration.toMillis(retryAfter)).toBeGreaterThan(0)
    expect(Duration.toMillis(retryAfter)).toBeLessThanOrEqual(60_000)
    expect(result.tooMany.retryAfter).toEqual(Option.none())
    expect(result.metrics).toEqual({
      availablePermissions: 0,
      numberOfWaitingFibers: 0,
      storeOutages: 0,
      storeUnavailableCalls: 0,
      settingsMismatches: 0,
      storeStatesDiscarded: 0
    })
  })

  it("metrics read Redis; drainPermissions empties the shared cycle; a new limit travels with each call", async () => {
    await clearOfBoundary(60_000, 2_000)
    const prefix = fresh("drain")
    const result = await run(Effect.gen(function*() {
      const options: RateLimiter.Options = {
        name: "api",
        limitForPeriod: 5,
        limitRefreshPeriod: "1 minute",
        timeoutDuration: 0
      }
      const a = yield* makeOn(yield* instance(prefix), options)
      const b = yield* makeOn(yield* instance(prefix), options)
      yield* a.acquire(2)
      const seen = (yield* b.metrics).availablePermissions
      yield* b.drainPermissions
      const drained = (yield* a.metrics).availablePermissions
      const refused = yield* a.tryAcquire()
      // An effect made before the change runs with the settings of when it runs.
      const takeTwo = a.tryAcquire(2)
      yield* a.changeLimitForPeriod(7)
      const raised = yield* takeTwo
      return { seen, drained, refused, raised }
    }))
    expect(result).toEqual({ seen: 3, drained: 0, refused: false, raised: true })
  })

  it("keyed limiters share each key's state; acquireAll over shared limiters takes them in turn", async () => {
    await clearOfBoundary(60_000, 2_000)
    const prefix = fresh("keyed")
    const result = await run(Effect.gen(function*() {
      const store = yield* instance(prefix)
      const perTenant = yield* RateLimiter.keyed<string>({
        name: "tenant",
        limitForPeriod: 1,
        limitRefreshPeriod: "1 minute",
        timeoutDuration: 0
      }).pipe(Effect.provide(store))
      const acme = yield* Effect.exit(Effect.succeed(1).pipe(perTenant.withRateLimiter("acme")))
      const globex = yield* Effect.exit(Effect.succeed(1).pipe(perTenant.withRateLimiter("globex")))
      const again = yield* Effect.exit(Effect.succeed(1).pipe(perTenant.withRateLimiter("acme")))
      const options = { limitRefreshPeriod: "1 minute", timeoutDuration: 0 } as const
      const wide = yield* makeOn(store, { ...options, name: "wide", limitForPeriod: 10 })
      const narrow = yield* makeOn(store, { ...options, name: "narrow", limitForPeriod: 1 })
      const both = yield* Effect.exit(RateLimiter.acquireAll([wide, narrow]))
      const refused = yield* Effect.exit(RateLimiter.acquireAll([wide, narrow]))
      return { acme, globex, again, both, refused, wideLeft: (yield* wide.metrics).availablePermissions }
    }))
    expect(Exit.isSuccess(result.acme) && Exit.isSuccess(result.globex)).toBe(true)
    expect(Exit.isFailure(result.again)).toBe(true)
    expect(await admin.exists(`${prefix}:ratelimiter:{tenant:acme}:fixed`)).toBe(1)
    expect(Exit.isSuccess(result.both)).toBe(true)
    expect(Exit.isFailure(result.refused)).toBe(true)
    // Not atomic across shared limiters: the refusal by `narrow` came after `wide` granted.
    expect(result.wideLeft).toBe(8)
  })

  it("a Schedule period is refused for a shared limiter, at make and at reconfigure", async () => {
    const prefix = fresh("schedule")
    const result = await run(Effect.gen(function*() {
      const store = yield* instance(prefix)
      const made = yield* Effect.flip(makeOn(store, { name: "daily", limitRefreshPeriod: Schedule.spaced("1 day") }))
      const limiter = yield* makeOn(store, { name: "daily", limitRefreshPeriod: "1 second" })
      const changed = yield* Effect.flip(limiter.reconfigure({ limitRefreshPeriod: Schedule.spaced("1 day") }))
      return [made, changed]
    }))
    for (const error of result) expect(error.issues.map((issue) => issue.field)).toEqual(["limitRefreshPeriod"])
  })

  it("every key carries a TTL, and an abandoned limiter's keys vanish", async () => {
    const prefix = fresh("ttl")
    await run(Effect.gen(function*() {
      const store = yield* instance(prefix)
      for (const algorithm of ["fixed-window", "token-bucket", "sliding-window"] as const) {
        const limiter = yield* makeOn(store, {
          name: algorithm,
          algorithm,
          limitForPeriod: 10,
          limitRefreshPeriod: "10 seconds"
        })
        yield* limiter.acquire()
      }
      const brief = yield* makeOn(store, { name: "brief", limitForPeriod: 10, limitRefreshPeriod: "100 millis" })
      yield* brief.acquire()
    }))
    const keys = (await admin.keys(`${prefix}:*`)).sort()
    expect(keys).toEqual([
      `${prefix}:ratelimiter:{brief}:fixed`,
      `${prefix}:ratelimiter:{fixed-window}:fixed`,
      `${prefix}:ratelimiter:{sliding-window}:log`,
      `${prefix}:ratelimiter:{sliding-window}:logstate`,
      `${prefix}:ratelimiter:{token-bucket}:bucket`
    ])
    const ttl = async (key: string) => admin.pttl(`${prefix}:ratelimiter:${key}`)
    expect(await ttl("{fixed-window}:fixed")).toBeGreaterThan(10_000)
    expect(await ttl("{fixed-window}:fixed")).toBeLessThanOrEqual(20_000)
    // One token to refill (1 s), plus a token's interval and a second of slack.
    expect(await ttl("{token-bucket}:bucket")).toBeGreaterThan(2_000)
    expect(await ttl("{token-bucket}:bucket")).toBeLessThanOrEqual(3_000)
    for (const key of ["{sliding-window}:log", "{sliding-window}:logstate"]) {
      expect(await ttl(key)).toBeGreaterThan(10_000)
      expect(await ttl(key)).toBeLessThanOrEqual(20_000)
    }
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await admin.exists(`${prefix}:ratelimiter:{brief}:fixed`)).toBe(0)
  })

  it("the prefix namespaces everything: the same name under two prefixes is two limiters", async () => {
    await clearOfBoundary(60_000, 2_000)
    const [one, two] = [fresh("tenantA"), fresh("tenantB")]
    const results = await run(Effect.gen(function*() {
      const options: RateLimiter.Options = {
        name: "same",
        limitForPeriod: 1,
        limitRefreshPeriod: "1 minute",
        timeoutDuration: 0
      }
      const a = yield* makeOn(yield* instance(one), options)
      const b = yield* makeOn(yield* instance(two), options)
      return [yield* a.tryAcquire(), yield* b.tryAcquire(), yield* a.tryAcquire()]
    }))
    expect(results).toEqual([true, true, false])
    expect(await admin.keys(`${one}:*`)).toEqual([`${one}:ratelimiter:{same}:fixed`])
    expect(await admin.keys(`${two}:*`)).toEqual([`${two}:ratelimiter:{same}:fixed`])
  })

  it("decides with Redis's clock: moving the TestClock by hours grants nothing more", async () => {
    await clearOfBoundary(60_000, 3_000)
    const prefix = fresh("clock")
    const result = await run(
      Effect.gen(function*() {
        const limiter = yield* makeOn(yield* instance(prefix), {
          name: "clock",
          limitForPeriod: 3,
          limitRefreshPeriod: "1 minute",
          timeoutDuration: 0
        })
        yield* TestClock.setTime(Date.UTC(2100, 0, 1))
        const first = [yield* limiter.tryAcquire(), yield* limiter.tryAcquire(), yield* limiter.tryAcquire()]
        const atOnce = yield* limiter.tryAcquire()
        yield* TestClock.adjust("3 hours")
        const later = yield* limiter.tryAcquire()
        const refusal = yield* Effect.flip(limiter.acquire())
        return { first, atOnce, later, retryAfter: Option.getOrThrow(refusal.retryAfter) }
      }).pipe(withTestClock)
    )
    // An in-process limiter would have refilled 180 times over; the shared one still sees the same minute.
    expect(result.first).toEqual([true, true, true])
    expect(result.atOnce).toBe(false)
    expect(result.later).toBe(false)
    const millis = Duration.toMillis(result.retryAfter)
    expect(millis).toBeGreaterThan(0)
    expect(millis).toBeLessThanOrEqual(60_000)
  })

  it("RedisStore.layer refuses bad options with an InvalidConfigError naming field and value", async () => {
    const failure = (options: unknown) =>
      Effect.runPromise(
        Effect.scoped(Layer.build(RedisStore.layer({ url }, options as RedisStore.Options))).pipe(
          Effect.exit,
          Effect.map((exit) => Exit.isFailure(exit) ? Option.getOrElse(failureOf(exit.cause), () => exit) : exit)
        )
      )
    const issues = async (options: unknown) => {
      const error = await failure(options)
      expect(error).toBeInstanceOf(InvalidConfigError)
      return (error as InvalidConfigError).issues.map(({ field, value }) => [field, value])
    }
    expect(await issues({ prefix: "" })).toEqual([["prefix", ""]])
    expect(await issues({ prefix: "my app" })).toEqual([["prefix", "my app"]])
    expect(await issues({ onStoreFailure: "fail-silently" })).toEqual([["onStoreFailure", "fail-silently"]])
    expect(await issues({ timeout: -5 })).toEqual([["timeout", -5]])
    expect(await issues({ timeout: Duration.infinity })).toEqual([["timeout", Duration.infinity]])
    expect(await issues({ timeout: "2 hours" })).toEqual([["timeout", "2 hours"]])
    expect(String(await failure({ prefix: "a b" }))).toMatch(/prefix = "a b": must be non-empty, without whitespace/)
  })

  it("fallbackLimitForPeriod is a share of the limit: more than limitForPeriod is refused", async () => {
    const error = await Effect.runPromise(Effect.flip(Effect.scoped(
      RateLimiter.make({
        name: "share",
        limitForPeriod: 5,
        fallbackLimitForPeriod: 6
      }).pipe(Effect.provide(RedisStore.layer({ url }, { prefix: fresh("share") })))
    )))
    expect(error.issues.map(({ field, value }) => [field, value])).toEqual([["fallbackLimitForPeriod", 6]])
  })

  it("a client passed with its offline queue on gets one warning (commands would queue while Redis is down)", async () => {
    const warnings: Array<string> = []
    const queueing = new Redis(url)
    const failing = new Redis(url, { ...RedisStore.clientOptions })
    await Effect.runPromise(
      Effect.scoped(Effect.all([
        Layer.build(RedisStore.layer({ client: queueing })),
        Layer.build(RedisStore.layer({ client: failing }))
      ])).pipe(collectWarnings(warnings))
    )
    queueing.disconnect()
    failing.disconnect()
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/enableOfflineQueue on.*RedisStore\.clientOptions/)
  })

  it("a client you pass is used and left open; connection options make a connection the Layer closes", async () => {
    const client = new Redis(url, { ...RedisStore.clientOptions })
    const prefix = fresh("client")
    const { hostname, port } = new URL(url)
    const results = await Effect.runPromise(Effect.all([
      Effect.scoped(Effect.flatMap(
        RateLimiter.make({ name: "passed", limitForPeriod: 1, limitRefreshPeriod: "1 minute" }),
        (limiter) => limiter.tryAcquire()
      )).pipe(Effect.provide(RedisStore.layer({ client }, { prefix }))),
      Effect.scoped(Effect.flatMap(
        RateLimiter.make({ name: "options", limitForPeriod: 1, limitRefreshPeriod: "1 minute" }),
        (limiter) => limiter.tryAcquire()
      )).pipe(Effect.provide(RedisStore.layer({ options: { host: hostname, port: Number(port) } }, { prefix })))
    ]))
    expect(results).toEqual([true, true])
    expect(await client.ping()).toBe("PONG")
    client.disconnect()
    expect((await admin.keys(`${prefix}:*`)).sort()).toEqual([
      `${prefix}:ratelimiter:{options}:fixed`,
      `${prefix}:ratelimiter:{passed}:fixed`
    ])
  })

  it("a waiter interrupted while it waits is reported as refused; a bad permit count is a defect", async () => {
    const prefix = fresh("interrupt")
    const result = await run(Effect.gen(function*() {
      const limiter = yield* makeOn(yield* instance(prefix), {
        name: "interrupted",
        limitForPeriod: 1,
        limitRefreshPeriod: "10 seconds",
        timeoutDuration: "20 seconds"
      })
      const events: Array<string> = []
      yield* Effect.forkScoped(Stream.runForEach(limiter.events, (e) => Effect.sync(() => events.push(e._tag))))
      yield* Effect.sleep("10 millis")
      yield* limiter.acquire()
      const waiter = yield* forkChild(limiter.acquire())
      yield* Effect.sleep("30 millis")
      const during = (yield* limiter.metrics).numberOfWaitingFibers
      yield* Fiber.interrupt(waiter)
      const after = (yield* limiter.metrics).numberOfWaitingFibers
      const bad = yield* Effect.exit(limiter.tryAcquire(0))
      yield* Effect.sleep("10 millis")
      return { during, after, events, bad }
    }))
    expect(result.during).toBe(1)
    expect(result.after).toBe(0)
    expect(result.events).toEqual(["SuccessfulAcquire", "FailedAcquire"])
    expect(Exit.isFailure(result.bad) && Option.isSome(defectOf(result.bad.cause))).toBe(true)
  })

  it("a guarded call's span says what the shared limiter decided and where", async () => {
    await clearOfBoundary(60_000, 2_000)
    const prefix = fresh("span")
    const attributes = await run(Effect.gen(function*() {
      const limiter = yield* makeOn(yield* instance(prefix), {
        name: "traced",
        limitForPeriod: 1,
        limitRefreshPeriod: "1 minute",
        timeoutDuration: 0
      })
      // The span around the guarded call, whatever its outcome.
      const spanOf = (guarded: Effect.Effect<void, RateLimiter.RequestNotPermittedError>) =>
        Effect.flatMap(Effect.currentSpan, (span) => Effect.as(Effect.exit(guarded), span)).pipe(
          Effect.withSpan("call"),
          Effect.orDie
        )
      const granted = (yield* spanOf(RateLimiter.withRateLimiter(Effect.void, limiter))).attributes
      const refused = (yield* spanOf(RateLimiter.withRateLimiter(Effect.void, limiter))).attributes
      return { granted: Object.fromEntries(granted), refused: Object.fromEntries(refused) }
    }))
    expect(attributes.granted).toMatchObject({
      "breakwater.ratelimiter.name": "traced",
      "breakwater.ratelimiter.decision": "permitted",
      "breakwater.ratelimiter.store": "redis"
    })
    expect(attributes.refused).toMatchObject({ "breakwater.ratelimiter.decision": "refused" })
  })

  it("layerConfig reads REDIS_URL and REDIS_PREFIX", async () => {
    await clearOfBoundary(60_000, 2_000)
    const prefix = fresh("config")
    const provider = configFromJson({ REDIS_URL: url, REDIS_PREFIX: prefix })
    const granted = await run(
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name: "configured",
          limitForPeriod: 1,
          limitRefreshPeriod: "1 minute"
        })
        return yield* limiter.tryAcquire()
      }).pipe(Effect.provide(RedisStore.layerConfig()), withConfig(provider))
    )
    expect(granted).toBe(true)
    expect(await admin.exists(`${prefix}:ratelimiter:{configured}:fixed`)).toBe(1)
    const missing = await Effect.runPromise(
      Effect.flip(
        Layer.build(RedisStore.layerConfig()).pipe(
          Effect.scoped,
          withConfig(configFromJson({}))
        )
      )
    )
    expect(missing._tag).toBe("ConfigError")
  })
})
