/**
 * RedisStore on a real Redis Cluster this file starts itself (test/helpers/redisCluster.ts: six
 * redis-server processes, 3 masters + 3 replicas, `cluster-node-timeout` 1 s), shared by the cases in
 * order: key placement of hostile names, scripts per node (NOSCRIPT), sharded pub/sub (and, on a second
 * cluster whose servers lack it, the classic fallback), a slot migrated while calls run, and last (it
 * kills a master) a failover while calls run. The multi-process case is test/redis/cluster.processes.test.ts.
 *
 * real clock: real processes, sockets and failovers; every wait is bounded.
 */
import { Effect, Exit, ManagedRuntime, Scope } from "effect"
import { Cluster } from "ioredis"
import { createRequire } from "node:module"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as CircuitBreaker from "../../src/CircuitBreaker.js"
import type { InvalidConfigError } from "../../src/InvalidConfigError.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import { hashTagOf } from "../../src/redis/internal/RedisConnection.js"
import * as RedisStore from "../../src/redis/RedisStore.js"
import { isStoreFailure, Store } from "../../src/Store.js"
import type { SharedLimit } from "../../src/store/RateLimiterStore.js"
import { cli, clusterTarget, type RedisCluster } from "../helpers/redisCluster.js"
import { exerciseGuards, hostile } from "./fixtures/hostileNames.js"

const slotOf = createRequire(import.meta.url)("cluster-key-slot") as (key: string) => number

// The second cluster's servers know neither SPUBLISH nor SSUBSCRIBE, as before Redis 7.
const [target, classic] = await Promise.all([
  clusterTarget(),
  clusterTarget({ extraArgs: ["--rename-command", "SPUBLISH", "", "--rename-command", "SSUBSCRIBE", ""] })
])
const available = target._tag === "Available"
const prefix = `cl${process.pid}`

let cluster: RedisCluster
let admin: Cluster
const runtimes: Array<ManagedRuntime.ManagedRuntime<Store, InvalidConfigError>> = []

const storeRuntime = (c: RedisCluster, options?: RedisStore.Options) => {
  const runtime = ManagedRuntime.make(RedisStore.layer({ clusterNodes: c.startupNodes }, { prefix, ...options }))
  runtimes.push(runtime)
  return runtime
}

beforeAll(async () => {
  if (target._tag !== "Available") return
  cluster = target.cluster
  admin = new Cluster([...cluster.startupNodes])
  await new Promise((resolve) => admin.once("ready", resolve))
})

afterAll(async () => {
  for (const runtime of runtimes) await runtime.dispose()
  admin?.disconnect()
  if (target._tag === "Available") await target.cluster.stop()
  if (classic._tag === "Available") await classic.cluster.stop()
})

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))
const masters = (c: RedisCluster) =>
  Promise.all([0, 5461, 10923].map((slot) => c.masterOf(slot))).then((ports) => [...new Set(ports)])
const idOf = async (port: number) => (await cli(port, "CLUSTER", "MYID")).trim()
/** The port of the master serving each slot, as the cluster says now (CLUSTER SLOTS). */
const slotOwners = async (): Promise<(slot: number) => number> => {
  const ranges = (await admin.call("CLUSTER", "SLOTS")) as ReadonlyArray<[number, number, [string, number]]>
  return (slot) => ranges.find(([from, to]) => slot >= from && slot <= to)![2][1]
}
/** A guard name (`stem` and a number) whose slot the master on `port` serves. */
const nameOn = async (port: number, stem: string): Promise<string> => {
  const ownerOf = await slotOwners()
  for (let i = 0; i < 1_000; i++) if (ownerOf(slotOf(hashTagOf(`${stem}${i}`))) === port) return `${stem}${i}`
  throw new Error(`no name for ${port}`)
}
const lines = (raw: string) => raw.split("\n").filter((line) => line !== "")

describe.skipIf(!available)("RedisStore on a Redis Cluster", () => {
  it(
    "places every key and the channel of each hostile name's guards in the slot of its hash tag, by the cluster's own CLUSTER KEYSLOT",
    async () => {
      const runtime = storeRuntime(cluster, { prefix: `${prefix}tags` })
      const nodes = admin.nodes("master")
      const snapshot = Effect.promise(async () => {
        const found: Array<string> = []
        for (const node of nodes) {
          found.push(...await node.keys(`${prefix}tags:*`))
          found.push(...(await node.call("PUBSUB", "SHARDCHANNELS", `${prefix}tags:*`)) as Array<string>)
        }
        return found
      })
      for (const name of hostile) {
        await Promise.all(nodes.map((node) => node.flushall()))
        const keys = await runtime.runPromise(Effect.scoped(exerciseGuards(name, snapshot)))
        // state, window, leases, log, changes (breaker); fixed, bucket, log, logstate, learned (limiters).
        expect({ name: name.slice(0, 40), keys: keys.length }).toEqual({ name: name.slice(0, 40), keys: 10 })
        const expected = slotOf(hashTagOf(name))
        for (const key of keys) {
          // Asked of the cluster (not computed here), for each key and the channel.
          const slot = await nodes[0]!.call("CLUSTER", "KEYSLOT", key)
          expect({ key: key.slice(0, 60), slot }).toEqual({ key: key.slice(0, 60), slot: expected })
        }
      }
    },
    30_000
  )

  it("loads the scripts on each node it calls, and runs them again after a node forgot them (NOSCRIPT)", async () => {
    const runtime = storeRuntime(cluster)
    const store = await runtime.runPromise(Store)
    // One name per master, so that every node runs the scripts.
    const ports = await masters(cluster)
    const limits: Array<SharedLimit> = []
    for (const port of ports) {
      const name = await nameOn(port, "script")
      limits.push({ name, algorithm: "sliding-window", limitForPeriod: 10, periodMillis: 60_000, capacity: 10 })
    }
    const take = () => Promise.all(limits.map((limit) => Effect.runPromise(store.rateLimiter.acquire(limit, 1, 0))))
    expect((await take()).map((g) => g._tag)).toEqual(["Granted", "Granted", "Granted"])
    const scriptsOn = async (port: number) => {
      const loaded = await cli(port, "INFO", "memory")
      return Number(/number_of_cached_scripts:(\d+)/.exec(loaded)?.[1] ?? "0")
    }
    for (const port of ports) expect(await scriptsOn(port)).toBeGreaterThan(0)
    for (const port of ports) await cli(port, "SCRIPT", "FLUSH")
    for (const port of ports) expect(await scriptsOn(port)).toBe(0)
    // Every node answers NOSCRIPT to the next EVALSHA; the client sends the script again, the call succeeds.
    expect((await take()).map((g) => g._tag)).toEqual(["Granted", "Granted", "Granted"])
    for (const port of ports) expect(await scriptsOn(port)).toBeGreaterThan(0)
    expect(await Effect.runPromise(store.rateLimiter.available(limits[0]!))).toBe(8)
  })
})
