/**
 * RedisStore on a real Redis Cluster this file starts itself (test/helpers/redisCluster.ts: six
 * redis-server processes, 3 masters + 3 replicas, `cluster-node-timeout` 1 s), shared by the cases in
 * order: key placement of hostile names, scripts per node (NOSCRIPT), sharded pub/sub (and, on a second
 * cluster whose servers lack it, the classic fallback), a slot migrated while calls run, and last (it
 * kills a master) a failover while calls run. The multi-process case is test/redis/cluster.processes.test.ts.
 *
 * real clock: real processes, sockets and failovers; every wait is bounded.
 */
import { forkChild, scopeProvide } from "#port"
import { Effect, Exit, Fiber, ManagedRuntime, Scope } from "effect"
import { Cluster, Redis } from "ioredis"
import { createRequire } from "node:module"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { InvalidConfigError } from "../../src/errors/InvalidConfigError.js"
import * as CircuitBreaker from "../../src/guards/CircuitBreaker.js"
import * as RateLimiter from "../../src/guards/RateLimiter.js"
import { hashTagOf } from "../../src/redis/internal/RedisConnection.js"
import * as RedisStore from "../../src/redis/RedisStore.js"
import type { SharedLimit } from "../../src/store/RateLimiterStore.js"
import { isStoreFailure, Store } from "../../src/store/Store.js"
import { cli, clusterTarget, type RedisCluster } from "../helpers/redisCluster.js"
import { exerciseGuards, hostile } from "./fixtures/hostileNames.js"

/** Success or the typed failure, as an Either-shaped value (Effect 3's `Effect.either` is 4's `Effect.result`). */
const either = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.match(self, {
    onFailure: (left) => ({ _tag: "Left" as const, left }),
    onSuccess: (right) => ({ _tag: "Right" as const, right })
  })

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

/** Polls `check` (real clock) until it holds or `millis` pass; returns whether it held. */
const eventually = async (check: () => Promise<boolean>, millis: number): Promise<boolean> => {
  const deadline = Date.now() + millis
  for (;;) {
    if (await check()) return true
    if (Date.now() > deadline) return false
    await sleep(20)
  }
}

/** Two store instances (separate connections, as two processes) with a breaker of one name each. */
const twoInstances = async (c: RedisCluster, name: string) => {
  const scope = await Effect.runPromise(Scope.make())
  const make = (runtime: ManagedRuntime.ManagedRuntime<Store, InvalidConfigError>) =>
    runtime.runPromise(scopeProvide(CircuitBreaker.make({ name, waitDurationInOpenState: "1 minute" }), scope))
  const [a, b] = await Promise.all([make(storeRuntime(c)), make(storeRuntime(c))])
  return { a: a!, b: b!, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

const subscribers = async (c: RedisCluster, command: "NUMSUB" | "SHARDNUMSUB", channel: string) => {
  let total = 0
  for (const node of c.nodes) {
    if (!node.alive()) continue
    total += Number(lines(await cli(node.port, "PUBSUB", command, channel))[1] ?? "0")
  }
  return total
}

describe.skipIf(!available)("RedisStore on a Redis Cluster: pub/sub", () => {
  it("announces a breaker's changes over sharded pub/sub: the other instance follows without a call", async () => {
    const { a, b, close } = await twoInstances(cluster, "announced")
    const channel = `${prefix}:circuit:{announced}:changes`
    expect(await eventually(async () => (await subscribers(cluster, "SHARDNUMSUB", channel)) === 2, 2_000)).toBe(true)
    expect(await subscribers(cluster, "NUMSUB", channel)).toBe(0)
    await Effect.runPromise(a.transitionToOpen)
    expect(await eventually(async () => (await Effect.runPromise(b.state)) === "Open", 2_000)).toBe(true)
    await Effect.runPromise(b.transitionToClosed)
    expect(await eventually(async () => (await Effect.runPromise(a.state)) === "Closed", 2_000)).toBe(true)
    await close()
    // Closing the breakers unsubscribes them.
    expect(await eventually(async () => (await subscribers(cluster, "SHARDNUMSUB", channel)) === 0, 2_000)).toBe(true)
  })

  it.skipIf(classic._tag !== "Available")(
    "falls back to classic pub/sub on servers without SPUBLISH/SSUBSCRIBE",
    async () => {
      const old = (classic as { readonly cluster: RedisCluster }).cluster
      const { a, b, close } = await twoInstances(old, "classic")
      const channel = `${prefix}:circuit:{classic}:changes`
      expect(await eventually(async () => (await subscribers(old, "NUMSUB", channel)) === 2, 2_000)).toBe(true)
      expect(await subscribers(old, "SHARDNUMSUB", channel)).toBe(0)
      await Effect.runPromise(a.transitionToOpen)
      expect(await eventually(async () => (await Effect.runPromise(b.state)) === "Open", 2_000)).toBe(true)
      await close()
    }
  )
})

/**
 * Moves `slot` from the master on `from` to the one on `to` the way `redis-cli --cluster reshard` does
 * (SETSLOT IMPORTING/MIGRATING, MIGRATE of its keys, SETSLOT NODE on every master), pausing between the
 * steps so that calls running meanwhile meet each intermediate state (ASK redirections, TRYAGAIN).
 */
const migrateSlot = async (slot: number, from: number, to: number, pauseMillis: number) => {
  const [fromId, toId] = await Promise.all([idOf(from), idOf(to)])
  await cli(to, "CLUSTER", "SETSLOT", String(slot), "IMPORTING", fromId)
  await cli(from, "CLUSTER", "SETSLOT", String(slot), "MIGRATING", toId)
  await sleep(pauseMillis)
  for (;;) {
    const keys = lines(await cli(from, "CLUSTER", "GETKEYSINSLOT", String(slot), "100"))
    if (keys.length === 0) break
    await cli(from, "MIGRATE", "127.0.0.1", String(to), "", "0", "5000", "REPLACE", "KEYS", ...keys)
    await sleep(pauseMillis)
  }
  for (const port of await masters(cluster)) await cli(port, "CLUSTER", "SETSLOT", String(slot), "NODE", toId)
}

describe.skipIf(!available)("RedisStore on a Redis Cluster: topology changes while calls run", () => {
  it(
    "a slot migrated to another master while calls run: every permit granted is counted, refusals only from the failure mode, both guards answer from the new master",
    async () => {
      const runtime = storeRuntime(cluster, { onStoreFailure: "fail-closed" })
      const ports = await masters(cluster)
      const from = ports[0]!
      const to = ports[1]!
      const name = await nameOn(from, "moving")
      const slot = slotOf(hashTagOf(name))
      const limitForPeriod = 10_000
      const outcome = await runtime.runPromise(Effect.scoped(Effect.gen(function*() {
        const limiter = yield* RateLimiter.make({
          name,
          algorithm: "sliding-window",
          limitForPeriod,
          limitRefreshPeriod: "1 minute",
          timeoutDuration: 0
        })
        const breaker = yield* CircuitBreaker.make({ name, slidingWindowSize: 100_000, minimumNumberOfCalls: 100_000 })
        let granted = 0
        let limiterStoreRefusals = 0
        let passed = 0
        let breakerStoreRefusals = 0
        let otherRefusals = 0
        let running = true
        const calls = Effect.gen(function*() {
          while (running) {
            const result = yield* either(limiter.acquire())
            if (result._tag === "Right") granted++
            else if (isStoreFailure(result.left)) limiterStoreRefusals++
            else otherRefusals++
            const call = yield* either(CircuitBreaker.withCircuitBreaker(Effect.void, breaker))
            if (call._tag === "Right") passed++
            else if (isStoreFailure(call.left)) breakerStoreRefusals++
            else otherRefusals++
            // Refused without asking Redis (the failure mode's second): do not spin.
            if (result._tag === "Left" || call._tag === "Left") yield* Effect.sleep("1 millis")
          }
        })
        const fibers = yield* Effect.forEach([calls, calls, calls, calls], forkChild)
        yield* Effect.promise(() => sleep(200))
        const before = { granted, passed }
        yield* Effect.promise(() => migrateSlot(slot, from, to, 150))
        const moved = { granted, passed }
        // The failure mode's second without Redis, then calls on the slot's new master.
        yield* Effect.promise(() => sleep(1_300))
        running = false
        yield* Fiber.awaitAll(fibers)
        const metrics = yield* breaker.metrics
        return {
          granted,
          limiterStoreRefusals,
          passed,
          breakerStoreRefusals,
          otherRefusals,
          grantedDuring: moved.granted - before.granted,
          grantedAfter: granted - moved.granted,
          passedAfter: passed - moved.passed,
          buffered: metrics.numberOfBufferedCalls
        }
      })))
      console.log(`slot migration: ${JSON.stringify(outcome)}`)
      expect((await slotOwners())(slot)).toBe(to)
      // Calls went on during the move, and both guards answer from the new master after it.
      expect(outcome.grantedDuring).toBeGreaterThan(0)
      expect(outcome.grantedAfter).toBeGreaterThan(0)
      expect(outcome.passedAfter).toBeGreaterThan(0)
      // Refusals only ever came from the failure mode (fail-closed), never from the limit or an Open breaker.
      expect(outcome.otherRefusals).toBe(0)
      // The breaker's window held every call recorded through Redis (at most those passed: a record that
      // met TRYAGAIN mid-move is decided by the failure mode instead).
      expect(outcome.buffered).toBeGreaterThan(0)
      expect(outcome.buffered).toBeLessThanOrEqual(outcome.passed)
      const store = await runtime.runPromise(Store)
      const limit: SharedLimit = {
        name,
        algorithm: "sliding-window",
        limitForPeriod,
        periodMillis: 60_000,
        capacity: limitForPeriod
      }
      // Every permit granted was counted by Redis (fail-closed: none granted without it). Redis may count a
      // few more: a call that met TRYAGAIN mid-move and outlived the store's 250 ms timeout was refused to
      // its caller, then run by Redis when ioredis retried it — at most one per fiber per failure-mode
      // episode (a timeout, then a second without asking): 4 fibers, at most ~4 episodes each here.
      const counted = limitForPeriod - await Effect.runPromise(store.rateLimiter.available(limit))
      expect(counted).toBeGreaterThanOrEqual(outcome.granted)
      expect(counted - outcome.granted).toBeLessThanOrEqual(16)
    },
    20_000
  )
})

describe.skipIf(!available)("RedisStore on a Redis Cluster: failover (last: it kills a master)", () => {
  it(
    "a master killed mid-run: fail-closed holds during the failover, the state afterwards is the replica's, nothing stays stuck",
    async () => {
      const instance = storeRuntime(cluster, { onStoreFailure: "fail-closed" })
      const watcher = storeRuntime(cluster, { onStoreFailure: "fail-closed" })
      const victim = (await masters(cluster))[2]!
      const [promoted] = await cluster.replicasOf(victim)
      // Guards whose state is checked after the failover (not called during it), and guards called all along.
      const kept = await nameOn(victim, "kept")
      const busy = await nameOn(victim, "busy")
      const limitOf = (name: string): SharedLimit => ({
        name,
        algorithm: "sliding-window",
        limitForPeriod: 10_000,
        periodMillis: 60_000,
        capacity: 10_000
      })
      const scope = await Effect.runPromise(Scope.make())
      const inScope = <A, E>(runtime: typeof instance, effect: Effect.Effect<A, E, Store | Scope.Scope>) =>
        runtime.runPromise(scopeProvide(effect, scope))
      const limiterOf = (name: string) =>
        RateLimiter.make({ name, algorithm: "sliding-window", limitForPeriod: 10_000, limitRefreshPeriod: "1 minute" })
      const breakerOf = (name: string) => CircuitBreaker.make({ name, waitDurationInOpenState: "1 minute" })
      const [keptLimiter, keptBreaker, busyLimiter, busyBreaker, watched] = await Promise.all([
        inScope(instance, limiterOf(kept)),
        inScope(instance, breakerOf(kept)),
        inScope(instance, limiterOf(busy)),
        inScope(instance, breakerOf(busy)),
        inScope(watcher, breakerOf(kept))
      ])
      const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
      try {
        // Replicated: 10 permits and an Open breaker (WAIT: the replica acknowledged every write so far).
        for (let i = 0; i < 10; i++) expect(await run(keptLimiter.tryAcquire())).toBe(true)
        expect(await run(busyLimiter.tryAcquire())).toBe(true)
        await run(keptBreaker.transitionToOpen)
        expect(await eventually(async () => (await run(watched.state)) === "Open", 2_000)).toBe(true)
        expect((await cli(victim, "WAIT", "1", "2000")).trim()).toBe("1")
        // Acknowledged by the master, never replicated: the replica's link is cut first, and the master
        // takes no new connection (maxclients 1) so the replica cannot come back before the master dies.
        const direct = new Redis(victim, "127.0.0.1")
        const cut = await direct.multi().config("SET", "maxclients", "1").client("KILL", "TYPE", "replica").exec()
        expect(cut?.map(([error]) => error)).toEqual([null, null])
        for (let i = 0; i < 5; i++) expect(await run(keptLimiter.tryAcquire())).toBe(true)
        await run(keptBreaker.transitionToClosed)
        await cluster.kill(victim)
        direct.disconnect()

        // Calls all along the failover, fail-closed.
        let granted = 0
        let passed = 0
        let storeRefusals = 0
        let otherRefusals = 0
        let running = true
        const loop = (async () => {
          while (running) {
            const acquired = await run(either(busyLimiter.acquire()))
            const called = await run(either(CircuitBreaker.withCircuitBreaker(Effect.void, busyBreaker)))
            for (const result of [acquired, called]) {
              if (result._tag === "Left" && isStoreFailure(result.left)) storeRefusals++
              else if (result._tag === "Left") otherRefusals++
            }
            if (acquired._tag === "Right") granted++
            if (called._tag === "Right") passed++
            await sleep(acquired._tag === "Left" || called._tag === "Left" ? 5 : 1)
          }
        })()
        const killedAt = Date.now()
        await cluster.waitOk(15_000)
        const failoverMillis = Date.now() - killedAt
        expect(await cluster.masterOf(slotOf(hashTagOf(kept)))).toBe(promoted)
        // Nothing stuck: both guards answer from the promoted replica again within a few seconds.
        const grantedBefore = granted
        const passedBefore = passed
        const storeRefusalsAtOk = storeRefusals
        expect(await eventually(async () => granted > grantedBefore && passed > passedBefore, 5_000)).toBe(true)
        running = false
        await loop
        console.log(
          `failover: ${
            JSON.stringify({ failoverMillis, granted, passed, storeRefusals, storeRefusalsAtOk, otherRefusals })
          }`
        )
        // The outage was seen, and decided by the failure mode only (fail-closed: refused as a store failure).
        expect(storeRefusalsAtOk).toBeGreaterThan(0)
        expect(otherRefusals).toBe(0)
        const store = await instance.runPromise(Store)
        // Fail-closed granted nothing Redis did not count (the 1 replicated permit + those granted since;
        // a few more at most: calls that outlived the store's timeout and ran later).
        const busyCounted = 10_000 - await run(store.rateLimiter.available(limitOf(busy)))
        expect(busyCounted).toBeGreaterThanOrEqual(1 + granted)
        expect(busyCounted - (1 + granted)).toBeLessThanOrEqual(8)

        // The state afterwards is what the replica had: 10 permits, not 15; the breaker Open, not Closed —
        // and both instances' breakers follow it without a call (re-read once their subscriber is back).
        expect(10_000 - await run(store.rateLimiter.available(limitOf(kept)))).toBe(10)
        expect(await eventually(async () => (await run(keptBreaker.state)) === "Open", 5_000)).toBe(true)
        expect(await eventually(async () => (await run(watched.state)) === "Open", 5_000)).toBe(true)
        // Pub/sub works on the new master: a change made now reaches the other instance.
        await run(keptBreaker.transitionToClosed)
        expect(await eventually(async () => (await run(watched.state)) === "Closed", 3_000)).toBe(true)
      } finally {
        await Effect.runPromise(Scope.close(scope, Exit.void))
      }
    },
    40_000
  )
})
