/**
 * One contract, two stores: the in-memory RateLimiterStore (the local fallback) and the Redis one must
 * answer the same requests the same way — the Redis one both on one server and on a real local Redis
 * Cluster (six nodes started by test/helpers/redisCluster.ts, about 3 s of start-up) — and on Valkey
 * when `valkey-server` is installed (skipped with a notice otherwise: the package is not in this
 * machine's Debian registry, see `valkeyTarget`). Real clock on all
 * sides (Redis decides with its own TIME), so each case first waits for the start of a cycle; periods are
 * a few hundred milliseconds and each subject runs in about 2 s. Names carry braces, so the cluster runs
 * them through the hash-tag escaping.
 */
import { Effect, ManagedRuntime } from "effect"
import { Cluster, Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { InvalidConfigError } from "../../src/errors/InvalidConfigError.js"
import * as RedisStore from "../../src/redis/RedisStore.js"
import { makeMemoryRateLimiterStore } from "../../src/store/internal/memoryRateLimiterStore.js"
import type { Grant, RateLimiterStore, SharedLimit } from "../../src/store/RateLimiterStore.js"
import { Store } from "../../src/store/Store.js"
import { clusterTarget } from "../helpers/redisCluster.js"
import { redisTarget, valkeyTarget } from "../helpers/redisServer.js"

const [target, clustered, valkey] = await Promise.all([redisTarget(), clusterTarget(), valkeyTarget()])
const available = target._tag === "Available"

interface Subject {
  readonly store: RateLimiterStore
  /** The store's clock, in epoch milliseconds. */
  readonly now: () => Promise<number>
}

const subjects: Record<string, () => Subject> = {}
let runtime: ManagedRuntime.ManagedRuntime<Store, InvalidConfigError> | undefined
let timeClient: Redis | undefined
let redisSubject: Subject | undefined
let clusterRuntime: ManagedRuntime.ManagedRuntime<Store, InvalidConfigError> | undefined
let clusterTimeClient: Cluster | undefined
let clusterSubject: Subject | undefined
let valkeyRuntime: ManagedRuntime.ManagedRuntime<Store, InvalidConfigError> | undefined
let valkeyTimeClient: Redis | undefined
let valkeySubject: Subject | undefined

const timeOf = (client: Redis | Cluster) => async () => {
  const [seconds, micros] = await client.time()
  return Number(seconds) * 1000 + Number(micros) / 1000
}

beforeAll(async () => {
  if (clustered._tag === "Available") {
    const nodes = clustered.cluster.startupNodes
    clusterRuntime = ManagedRuntime.make(
      RedisStore.layer({ clusterNodes: nodes }, { prefix: `contract${process.pid}` })
    )
    clusterTimeClient = new Cluster([...nodes])
    clusterSubject = { store: (await clusterRuntime.runPromise(Store)).rateLimiter, now: timeOf(clusterTimeClient) }
  }
  if (valkey._tag === "Available") {
    valkeyRuntime = ManagedRuntime.make(RedisStore.layer({ url: valkey.url }, { prefix: `contract${process.pid}` }))
    valkeyTimeClient = new Redis(valkey.url)
    valkeySubject = { store: (await valkeyRuntime.runPromise(Store)).rateLimiter, now: timeOf(valkeyTimeClient) }
  }
  if (target._tag !== "Available") return
  runtime = ManagedRuntime.make(RedisStore.layer({ url: target.url }, { prefix: `contract${process.pid}` }))
  const store = await runtime.runPromise(Store)
  timeClient = new Redis(target.url)
  redisSubject = { store: store.rateLimiter, now: timeOf(timeClient) }
})

afterAll(async () => {
  await runtime?.dispose()
  await clusterRuntime?.dispose()
  timeClient?.disconnect()
  clusterTimeClient?.disconnect()
  await valkeyRuntime?.dispose()
  valkeyTimeClient?.disconnect()
  if (valkey._tag === "Available") await valkey.stop()
  if (target._tag === "Available") await target.stop()
  if (clustered._tag === "Available") await clustered.cluster.stop()
})

subjects["memory"] = () => ({ store: makeMemoryRateLimiterStore(), now: async () => Date.now() })
if (available) subjects["redis"] = () => redisSubject!
if (clustered._tag === "Available") subjects["redis-cluster"] = () => clusterSubject!
if (valkey._tag === "Available") subjects["valkey"] = () => valkeySubject!

let names = 0
const limitOf = (
  algorithm: SharedLimit["algorithm"],
  limitForPeriod: number,
  periodMillis: number,
  capacity = limitForPeriod
): SharedLimit => ({
  name: `contract-{${algorithm}}-${process.pid}-${names++}`,
  algorithm,
  limitForPeriod,
  periodMillis,
  capacity
})

/** Waits until just after the start of the store's next epoch-aligned cycle of `period` ms. */
const atCycleStart = async (subject: Subject, period: number) => {
  const now = await subject.now()
  await new Promise((resolve) => setTimeout(resolve, period - (now % period) + 5))
}

const granted = (grant: Grant) => grant._tag === "Granted" ? grant.waitMillis : Number.NaN
const refused = (grant: Grant) => grant._tag === "Refused" ? grant.retryAfterMillis : Number.NaN

describe.each(Object.keys(subjects))("RateLimiterStore contract: %s", (kind) => {
  const subject = () => subjects[kind]!()
  const run = <A>(effect: Effect.Effect<A, unknown>) => Effect.runPromise(effect)

  it("fixed window: grants up to the limit now, then reserves in the next cycle within the wait, else refuses with retryAfter", async () => {
    const { now, store } = subject()
    const limit = limitOf("fixed-window", 3, 300)
    await atCycleStart({ store, now }, 300)
    for (let i = 0; i < 3; i++) expect(granted(await run(store.acquire(limit, 1, 0)))).toBe(0)
    expect(await run(store.available(limit))).toBe(0)
    const retry = refused(await run(store.acquire(limit, 1, 0)))
    expect(retry).toBeGreaterThan(0)
    expect(retry).toBeLessThanOrEqual(300)
    // Reserved in the next cycle; a request of 3 no longer fits there and goes to the one after.
    const next = granted(await run(store.acquire(limit, 1, 1_000)))
    expect(next).toBeGreaterThan(0)
    expect(next).toBeLessThanOrEqual(300)
    const later = granted(await run(store.acquire(limit, 3, 1_000)))
    expect(later).toBeGreaterThan(300)
    expect(later).toBeLessThanOrEqual(600)
    expect(await run(store.available(limit))).toBeLessThan(0)
    // Nobody overtakes a reservation: a newcomer that would fit the next cycle still queues after it.
    expect(refused(await run(store.acquire(limit, 1, 0)))).toBeGreaterThan(0)
    expect(refused(await run(store.acquire(limit, 4, 10_000)))).toBe(Number.POSITIVE_INFINITY)
  })

  it("fixed window: drain takes what is left of the cycle; a new limit travels with the call", async () => {
    const { now, store } = subject()
    const limit = limitOf("fixed-window", 4, 300)
    await atCycleStart({ store, now }, 300)
    expect(granted(await run(store.acquire(limit, 1, 0)))).toBe(0)
    expect(await run(store.drain(limit))).toBe(3)
    expect(await run(store.drain(limit))).toBe(0)
    expect(await run(store.available(limit))).toBe(0)
    expect(refused(await run(store.acquire(limit, 1, 0)))).toBeGreaterThan(0)
    // A new limit applies from the next cycle at the latest (Redis: at once, the memory store: next cycle).
    const raised = { ...limit, limitForPeriod: 6, takeOver: true }
    const wait = granted(await run(store.acquire(raised, 6, 1_000)))
    expect(wait).toBeGreaterThan(0)
    expect(wait).toBeLessThanOrEqual(300)
  })

  it("settings travel with each call: a new rate, limit or period taking over applies without any shared configuration", async () => {
    const { now, store } = subject()
    const bucket = limitOf("token-bucket", 2, 60_000)
    expect(granted(await run(store.acquire(bucket, 2, 0)))).toBe(0)
    expect(refused(await run(store.acquire(bucket, 1, 50)))).toBeGreaterThan(1_000)
    // A token a millisecond from now on.
    expect(
      granted(
        await run(store.acquire({ ...bucket, limitForPeriod: 1_000, periodMillis: 1_000, takeOver: true }, 1, 50))
      )
    )
      .toBeLessThanOrEqual(50)
    const window = limitOf("sliding-window", 2, 60_000)
    expect(granted(await run(store.acquire(window, 2, 0)))).toBe(0)
    expect(refused(await run(store.acquire(window, 1, 0)))).toBeGreaterThan(0)
    expect(granted(await run(store.acquire({ ...window, limitForPeriod: 3, takeOver: true }, 1, 0)))).toBe(0)
    // Cycles of another period do not compare with the old ones: the new period starts afresh.
    const cycles = limitOf("fixed-window", 2, 60_000)
    await atCycleStart({ store, now }, 1_000)
    expect(granted(await run(store.acquire(cycles, 2, 0)))).toBe(0)
    expect(refused(await run(store.acquire(cycles, 1, 0)))).toBeGreaterThan(0)
    expect(granted(await run(store.acquire({ ...cycles, periodMillis: 1_000, takeOver: true }, 2, 0)))).toBe(0)
  })

  it("token bucket: a burst of capacity, then one token per refill interval, in arrival order", async () => {
    const { store } = subject()
    // 2 tokens per second, bucket of 4: a token every 500 ms.
    const limit = limitOf("token-bucket", 2, 1_000, 4)
    expect(granted(await run(store.acquire(limit, 4, 0)))).toBe(0)
    // Lower bounds leave room for a slow machine between the calls.
    const retry = refused(await run(store.acquire(limit, 1, 0)))
    expect(retry).toBeGreaterThan(250)
    expect(retry).toBeLessThanOrEqual(500)
    const first = granted(await run(store.acquire(limit, 1, 2_000)))
    expect(first).toBeGreaterThan(250)
    expect(first).toBeLessThanOrEqual(500)
    const second = granted(await run(store.acquire(limit, 1, 2_000)))
    expect(second - first).toBeGreaterThan(490)
    expect(second).toBeLessThanOrEqual(1_000)
    expect(await run(store.available(limit))).toBeLessThan(0)
    expect(refused(await run(store.acquire(limit, 5, 10_000)))).toBe(Number.POSITIVE_INFINITY)
  })

  it("token bucket: drain empties the bucket", async () => {
    const { store } = subject()
    const limit = limitOf("token-bucket", 10, 60_000, 5)
    expect(granted(await run(store.acquire(limit, 2, 0)))).toBe(0)
    expect(await run(store.available(limit))).toBe(3)
    expect(await run(store.drain(limit))).toBe(3)
    expect(refused(await run(store.acquire(limit, 1, 0)))).toBeGreaterThan(0)
  })

  it("sliding window: never more than the limit in any window; a request waits for the oldest grant to leave", async () => {
    const { store } = subject()
    const limit = limitOf("sliding-window", 3, 400)
    expect(granted(await run(store.acquire(limit, 2, 0)))).toBe(0)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(granted(await run(store.acquire(limit, 1, 0)))).toBe(0)
    expect(await run(store.available(limit))).toBe(0)
    // The first two leave the window 400 ms after they were granted, ~300 ms from now.
    const retry = refused(await run(store.acquire(limit, 2, 0)))
    expect(retry).toBeGreaterThan(100)
    expect(retry).toBeLessThanOrEqual(300)
    const wait = granted(await run(store.acquire(limit, 2, 1_000)))
    expect(wait).toBeGreaterThan(100)
    expect(wait).toBeLessThanOrEqual(300)
    expect(refused(await run(store.acquire(limit, 4, 10_000)))).toBe(Number.POSITIVE_INFINITY)
  })

  it("sliding window: drain fills the window", async () => {
    const { store } = subject()
    const limit = limitOf("sliding-window", 5, 60_000)
    expect(granted(await run(store.acquire(limit, 1, 0)))).toBe(0)
    expect(await run(store.drain(limit))).toBe(4)
    expect(await run(store.drain(limit))).toBe(0)
    expect(refused(await run(store.acquire(limit, 1, 0)))).toBeGreaterThan(0)
  })
})
