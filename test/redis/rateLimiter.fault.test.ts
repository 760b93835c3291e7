import { scopeProvide } from "#port"
import { collectWarnings } from "#test-port"
/**
 * The limiter against a Redis of its own that the test stops and starts (a real redis-server keeping
 * its data across the restart): each `onStoreFailure` mode while Redis is down, recovery when it is back
 * with nothing lost or counted twice, no unhandled rejections; and the round trips per acquire, counted
 * by Redis itself (INFO commandstats). Real clock, bounded: each outage lasts well under a second and
 * reconnection takes at most ~1 s (the connection's backoff); the file runs in about 5 s.
 */
import { Duration, Effect, Exit, Layer, ManagedRuntime, Option, Scope, Stream } from "effect"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as RateLimiter from "../../src/guards/RateLimiter.js"
import * as Metrics from "../../src/observability/Metrics.js"
import * as Prometheus from "../../src/observability/Prometheus.js"
import * as RedisStore from "../../src/redis/RedisStore.js"
import * as Registry from "../../src/registry/Registry.js"
import { canRunFaultTests, type PrivateServer, privateServer } from "../helpers/redisServer.js"

const runnable = canRunFaultTests()
let server: PrivateServer
let admin: Redis
const unhandled: Array<unknown> = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)

beforeAll(async () => {
  if (!runnable) return
  process.on("unhandledRejection", onUnhandled)
  server = await privateServer({ appendOnly: true })
  admin = new Redis(server.url)
})

afterAll(async () => {
  if (!runnable) return
  admin.disconnect()
  await server.stop()
  process.off("unhandledRejection", onUnhandled)
})

let unique = 0
const fresh = (what: string) => `${what}-${process.pid}-${unique++}`

const redisNow = async () => {
  const [seconds, micros] = await admin.time()
  return Number(seconds) * 1000 + Number(micros) / 1000
}

const PERIOD = 600_000

/** Keeps the test clear of a cycle boundary of the long period the cases use. */
const clearOfBoundary = async () => {
  const left = PERIOD - ((await redisNow()) % PERIOD)
  if (left < 5_000) await new Promise((resolve) => setTimeout(resolve, left + 5))
}

const stop = Effect.promise(() => server.stop())
const start = Effect.promise(() => server.start())

/** Waits (up to 5 s) until the limiter reads Redis again: its metrics show Redis's count, not the local one. */
const untilRedisAnswers = (limiter: RateLimiter.RateLimiter, redisAvailable: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100; i++) {
      if ((yield* limiter.metrics).availablePermissions === redisAvailable) return
      yield* Effect.sleep("50 millis")
    }
    throw new Error("the limiter did not get back to Redis within 5 s")
  })

const count = (results: ReadonlyArray<boolean>) => results.filter(Boolean).length

const tries = (limiter: RateLimiter.RateLimiter, n: number) =>
  Effect.map(Effect.replicateEffect(limiter.tryAcquire(), n), (results) => results.filter(Boolean).length)

/** The Prometheus text of a metrics collector tracking `limiter`. */
const scrape = async (limiter: RateLimiter.RateLimiter): Promise<string> => {
  const metrics = ManagedRuntime.make(
    Prometheus.layer().pipe(
      Layer.provideMerge(Metrics.layer({ prefix: "fault" })),
      Layer.provideMerge(Registry.layer())
    )
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

interface Observed<A> {
  readonly result: A
  readonly warnings: ReadonlyArray<string>
  readonly events: ReadonlyArray<string>
}

/** Runs a case with the limiter's events and the log's warnings recorded. */
const observe = <A, E>(
  options: RateLimiter.Options,
  store: RedisStore.Options,
  body: (limiter: RateLimiter.RateLimiter) => Effect.Effect<A, E, Scope.Scope>
): Promise<Observed<A>> => {
  const warnings: Array<string> = []
  const events: Array<string> = []
  return Effect.runPromise(
    Effect.scoped(Effect.gen(function*() {
      const limiter = yield* RateLimiter.make(options)
      yield* Effect.forkScoped(Stream.runForEach(limiter.events, (e) => Effect.sync(() => events.push(e._tag))))
      yield* Effect.sleep("10 millis")
      const result = yield* body(limiter)
      return { result, warnings, events }
    })).pipe(
      Effect.provide(RedisStore.layer({ url: server.url }, { prefix: fresh("fault"), ...store })),
      collectWarnings(warnings)
    )
  )
}

const limited = (name: string, limitForPeriod: number, extra?: Partial<RateLimiter.Options>): RateLimiter.Options => ({
  name,
  limitForPeriod,
  limitRefreshPeriod: Duration.millis(PERIOD),
  timeoutDuration: 0,
  ...extra
})

describe.skipIf(!runnable)("RateLimiter when Redis goes away", () => {
  it("local-fallback (the default): decides in process while Redis is down, then back on Redis with its count intact", async () => {
    await clearOfBoundary()
    const observed = await observe(limited("fallback", 5), {}, (limiter) =>
      Effect.gen(function*() {
        const onRedis = yield* tries(limiter, 2)
        yield* stop
        const local = yield* tries(limiter, 10)
        const during = yield* limiter.metrics
        yield* start
        yield* untilRedisAnswers(limiter, 3)
        const after = yield* tries(limiter, 5)
        const metrics = yield* limiter.metrics
        const scraped = yield* Effect.promise(() => scrape(limiter))
        return { onRedis, local, during, after, metrics, scraped }
      }))
    const { after, during, local, metrics, onRedis } = observed.result
    expect(onRedis).toBe(2)
    // An in-process limiter of the same configuration: its own 5 permits.
    expect(local).toBe(5)
    expect(during.storeUnavailableCalls).toBe(10)
    // Redis kept its 2 grants; the local ones were never written there: exactly 3 left.
    expect(after).toBe(3)
    expect(metrics.storeUnavailableCalls).toBe(10)
    const scraped = observed.result.scraped
    expect(scraped).toContain(`fault_ratelimiter_store_outages_total{name="fallback"} 1`)
    expect(scraped).toContain(
      `fault_ratelimiter_store_unavailable_calls_total{name="fallback",mode="local-fallback"} 10`
    )
    expect(scraped).toContain(`fault_ratelimiter_store_unavailable_calls_total{name="fallback",mode="fail-open"} 0`)
    expect(scraped).toContain(`fault_ratelimiter_store_available{name="fallback"} 1`)
    expect(observed.result.scraped).toContain(`fault_ratelimiter_calls_total{name="fallback",kind="successful"} 10`)
    // The gauge shows the figures of the limiter's latest metrics read (a read takes a round trip).
    expect(observed.result.scraped).toContain(`fault_ratelimiter_available_permissions{name="fallback"} 0`)
    expect(observed.events.filter((e) => e === "StoreUnavailable")).toHaveLength(1)
    expect(observed.events.filter((e) => e === "StoreRecovered")).toHaveLength(1)
    expect(observed.warnings).toHaveLength(1)
    expect(observed.warnings[0]).toMatch(/'fallback': the redis store is unreachable, deciding in process/)
    expect(unhandled).toEqual([])
  })

  it("fallbackLimitForPeriod: during an outage an instance grants only its share of the fleet's limit", async () => {
    await clearOfBoundary()
    const observed = await observe(
      limited("share", 8, { fallbackLimitForPeriod: 2 }),
      {},
      (limiter) =>
        Effect.gen(function*() {
          const onRedis = yield* tries(limiter, 1)
          yield* stop
          const local = yield* tries(limiter, 5)
          const during = (yield* limiter.metrics).availablePermissions
          yield* start
          yield* untilRedisAnswers(limiter, 7)
          return { onRedis, local, during, after: yield* tries(limiter, 10) }
        })
    )
    // Four instances with a share of 2 each admit at most 8 together while Redis is down (without: 4 × 8).
    expect(observed.result).toEqual({ onRedis: 1, local: 2, during: 0, after: 7 })
  })

  it("fail-open lets every call through while Redis is down", async () => {
    await clearOfBoundary()
    const observed = await observe(
      limited("open", 2),
      { onStoreFailure: "fail-open" },
      (limiter) =>
        Effect.gen(function*() {
          const onRedis = yield* tries(limiter, 1)
          yield* stop
          const open = yield* tries(limiter, 5)
          yield* limiter.acquire(2)
          yield* start
          // Metrics read 0 while Redis is down (nothing is counted in process under fail-open).
          yield* untilRedisAnswers(limiter, 1)
          const after = yield* tries(limiter, 3)
          return { onRedis, open, after, metrics: yield* limiter.metrics }
        })
    )
    expect(observed.result).toMatchObject({ onRedis: 1, open: 5, after: 1, metrics: { storeUnavailableCalls: 6 } })
    expect(unhandled).toEqual([])
  })

  it("fail-closed refuses with the StoreError as cause; a guard's own option overrides the store's", async () => {
    await clearOfBoundary()
    const observed = await observe(
      limited("closed", 3, { onStoreFailure: "fail-closed" }),
      { onStoreFailure: "fail-open" },
      (limiter) =>
        Effect.gen(function*() {
          yield* stop
          const refusal = yield* Effect.flip(limiter.acquire())
          const tried = yield* limiter.tryAcquire()
          yield* start
          yield* untilRedisAnswers(limiter, 3)
          return { refusal, tried, after: yield* tries(limiter, 4) }
        })
    )
    const { after, refusal, tried } = observed.result
    expect(refusal.cause?._tag).toBe("StoreError")
    expect(refusal.cause?.operation).toBe("rateLimiter.acquire")
    expect(refusal.retryAfter).toEqual(Option.none())
    expect(refusal.message).toMatch(/RateLimiter 'closed' refused: redis store failed during rateLimiter.acquire/)
    expect(tried).toBe(false)
    expect(after).toBe(3)
    expect(unhandled).toEqual([])
  })

  it("a stalled Redis (SIGSTOP) costs one store timeout, not one per call: the others decide at once until the next probe", async () => {
    await clearOfBoundary()
    const observed = await observe(
      limited("stalled", 1_000),
      { timeout: "100 millis" },
      (limiter) =>
        Effect.gen(function*() {
          const onRedis = yield* tries(limiter, 2)
          const elapsed = <A, E>(effect: Effect.Effect<A, E>) =>
            Effect.map(Effect.timed(effect), ([duration, value]) => [Duration.toMillis(duration), value] as const)
          server.pause()
          // Concurrent load: the calls in flight wait for the store's timeout once...
          const [stalledMillis, stalled] = yield* elapsed(
            Effect.all(Array.from({ length: 50 }, () => limiter.tryAcquire()), { concurrency: "unbounded" })
          )
          // ...and those after it decide in process at once, without asking the stalled server.
          const [laterMillis, later] = yield* elapsed(
            Effect.all(Array.from({ length: 200 }, () => limiter.tryAcquire()), { concurrency: 20 })
          )
          const during = yield* limiter.metrics
          server.resume()
          // The 50 stalled calls ran once Redis thawed: their permits are taken there as well as granted in
          // process (a call that times out after Redis ran it counts twice; see the README).
          yield* untilRedisAnswers(limiter, 1_000 - 2 - 50)
          return { onRedis, stalledMillis, stalled: count(stalled), laterMillis, later: count(later), during }
        })
    )
    const { during, later, laterMillis, onRedis, stalled, stalledMillis } = observed.result
    expect(onRedis).toBe(2)
    expect([stalled, later]).toEqual([50, 200])
    expect(stalledMillis).toBeGreaterThanOrEqual(95)
    // Before: every call waited for ioredis' 1 s command timeout.
    expect(stalledMillis).toBeLessThan(600)
    expect(laterMillis).toBeLessThan(100)
    expect(during).toMatchObject({ storeOutages: 1, storeUnavailableCalls: 250 })
    expect(observed.events.filter((e) => e === "StoreUnavailable")).toHaveLength(1)
    expect(observed.events.filter((e) => e === "StoreRecovered")).toHaveLength(1)
    expect(unhandled).toEqual([])
  })

  it("a store whose Redis is down at start-up still builds, and its limiters start in their failure mode", async () => {
    const closedPort = server.port + 1
    const startedAt = Date.now()
    const result = await Effect.runPromise(
      Effect.scoped(Effect.gen(function*() {
        const limiter = yield* RateLimiter.make(limited("early", 2))
        return [yield* tries(limiter, 3), (yield* limiter.metrics).storeUnavailableCalls]
      })).pipe(Effect.provide(RedisStore.layer({ url: `redis://127.0.0.1:${closedPort}` })))
    )
    expect(result).toEqual([2, 3])
    expect(Date.now() - startedAt).toBeLessThan(3_000)
    expect(unhandled).toEqual([])
  })
})

/** `INFO commandstats` as command -> calls. */
const commandCalls = async (): Promise<Record<string, number>> => {
  const info = await admin.info("commandstats")
  const calls: Record<string, number> = {}
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]!] = Number(match[2])
  return calls
}

describe.skipIf(!runnable)("round trips", () => {
  it("one EVALSHA per acquire, sequential or concurrent; the script is loaded once", async () => {
    await clearOfBoundary()
    const calls = await Effect.runPromise(
      Effect.scoped(Effect.gen(function*() {
        const limiters = yield* Effect.forEach(
          ["fixed-window", "token-bucket", "sliding-window"] as const,
          (algorithm) =>
            RateLimiter.make({ name: algorithm, algorithm, limitForPeriod: 1_000_000, limitRefreshPeriod: "1 hour" })
        )
        // The first call of each script loads it (EVALSHA answered NOSCRIPT, then EVAL).
        for (const limiter of limiters) yield* limiter.acquire()
        yield* Effect.promise(() => admin.config("RESETSTAT"))
        for (const limiter of limiters) {
          for (let i = 0; i < 20; i++) yield* limiter.acquire()
          for (let i = 0; i < 20; i++) yield* limiter.tryAcquire()
          yield* Effect.all(Array.from({ length: 100 }, () => limiter.acquire()), { concurrency: "unbounded" })
        }
        return yield* Effect.promise(commandCalls)
      })).pipe(Effect.provide(RedisStore.layer({ url: server.url }, { prefix: fresh("trips") })))
    )
    // commandstats also counts the commands the scripts run inside Redis (TIME, HSET...): those are no
    // round trips. What the client sent: one EVALSHA per acquire, no EVAL, no SCRIPT LOAD.
    expect(calls["evalsha"]).toBe(3 * 140)
    expect(
      Object.keys(calls).filter((command) => /^(eval|evalsha_ro|eval_ro|script)/.test(command) && command !== "evalsha")
    )
      .toEqual([])
  })
})
