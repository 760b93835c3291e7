/**
 * RedisStore on a Redis Cluster against one Redis server, in the same run: a private 6-node cluster (3
 * masters + 3 replicas, started here with the test fixture, test/helpers/redisCluster.ts) and a private
 * redis-server, both on loopback. Per target, for a fixed-window limiter's acquire and a breaker's
 * guarded call:
 * - acquires (calls) per second, sequential (one caller) and concurrent (`concurrency` fibers, pipelined
 *   by ioredis per node), median of alternating rounds; the guards' names are spread over the masters
 *   (one per master on the cluster), the callers round-robin over them;
 * - round trips per acquire (call): the commands the clients sent, counted by every master with MONITOR
 *   (commands a script runs show as coming from "lua" and are not round trips; the cluster client's own
 *   topology refreshes — CLUSTER, INFO, PING — are left out), over a sample.
 *
 * Skipped with a note without redis-server / redis-cli.
 */
import { Effect, Exit, Layer, Scope } from "effect"
import { Redis } from "ioredis"
import { createRequire } from "node:module"
import { CircuitBreaker, RateLimiter } from "../../src/index.js"
import { hashTagOf } from "../../src/redis/internal/RedisConnection.js"
import * as RedisStore from "../../src/redis/RedisStore.js"
import { type RedisCluster, startCluster } from "../../test/helpers/redisCluster.js"
import { hasRedisServer, privateServer } from "../../test/helpers/redisServer.js"

const slotOf = createRequire(import.meta.url)("cluster-key-slot") as (key: string) => number

export interface RedisClusterBenchConfig {
  /** Length of each timed slice. */
  readonly millis: number
  readonly rounds: number
  readonly concurrency: number
  /** Calls counted under MONITOR for the round trips. */
  readonly sample: number
}

export interface RedisClusterRow {
  readonly name: string
  readonly single: { readonly perSecond: number; readonly roundTrips: number }
  readonly cluster: { readonly perSecond: number; readonly roundTrips: number }
}

export type RedisClusterResult =
  | { readonly _tag: "Measured"; readonly concurrency: number; readonly rows: ReadonlyArray<RedisClusterRow> }
  | { readonly _tag: "Skipped"; readonly reason: string }

interface Target {
  readonly label: "single" | "cluster"
  readonly layer: Layer.Layer<import("../../src/store/Store.js").Store, unknown>
  /** Ports whose commands count (the cluster's masters, or the one server). */
  readonly ports: ReadonlyArray<number>
  /** Guard names, one per master. */
  readonly names: ReadonlyArray<string>
}

interface Subject {
  readonly loop: (callers: number, until: () => boolean) => Promise<number>
}

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? Number.NaN

/** `callers` fibers, each calling `calls[i % n]` in turn until `until()`; resolves to the calls made. */
const loopOver = (calls: ReadonlyArray<Effect.Effect<unknown, unknown>>): Subject["loop"] => (callers, until) => {
  let count = 0
  const caller = (offset: number) =>
    Effect.whileLoop({
      while: () => !until(),
      body: () => Effect.either(calls[(count + offset) % calls.length]!),
      step: () => count++
    })
  return Effect.runPromise(
    Effect.all(Array.from({ length: callers }, (_, i) => caller(i)), { concurrency: "unbounded", discard: true })
  ).then(() => count)
}

const perSecond = async (subject: Subject, millis: number, callers: number) => {
  const start = performance.now()
  const deadline = start + millis
  const count = await subject.loop(callers, () => performance.now() >= deadline)
  return count / ((performance.now() - start) / 1000)
}

const IGNORED = new Set(["cluster", "info", "ping", "monitor", "command", "readonly", "client"])

/** Commands sent by clients (not scripts, not topology upkeep) per call, counted on every port. */
const roundTrips = async (ports: ReadonlyArray<number>, subject: Subject, sample: number, callers: number) => {
  const monitors = await Promise.all(ports.map(async (port) => {
    const base = new Redis(port, "127.0.0.1")
    base.on("error", () => {})
    const monitor = await base.monitor()
    return { base, monitor }
  }))
  let commands = 0
  for (const { monitor } of monitors) {
    monitor.on("monitor", (_time: string, args: ReadonlyArray<string>, source: string) => {
      if (source !== "lua" && !IGNORED.has(String(args[0]).toLowerCase())) commands++
    })
  }
  // Let every MONITOR start before the sample (a late one would miss commands).
  await new Promise((resolve) => setTimeout(resolve, 250))
  let left = sample
  const calls = await subject.loop(callers, () => left-- <= 0)
  await new Promise((resolve) => setTimeout(resolve, 100))
  for (const { base, monitor } of monitors) {
    monitor.disconnect()
    base.disconnect()
  }
  return commands / calls
}

/** A name (`stem` + number) on each master of the cluster. */
const namesPerMaster = async (cluster: RedisCluster, stem: string) => {
  const owners = [...new Set(await Promise.all([0, 5461, 10923].map((slot) => cluster.masterOf(slot))))]
  const names: Array<string> = []
  for (const owner of owners) {
    for (let i = 0; i < 1_000; i++) {
      const name = `${stem}${i}`
      if (!names.includes(name) && (await cluster.masterOf(slotOf(hashTagOf(name)))) === owner) {
        names.push(name)
        break
      }
    }
  }
  return names
}

export const runRedisCluster = async (config: RedisClusterBenchConfig): Promise<RedisClusterResult> => {
  if (!hasRedisServer()) return { _tag: "Skipped", reason: "no redis-server binary" }
  const [single, cluster] = await Promise.all([privateServer(), startCluster()])
  const scopes: Array<Scope.CloseableScope> = []
  try {
    const prefix = `benchcl${process.pid}`
    const targets: ReadonlyArray<Target> = [
      {
        label: "single",
        layer: RedisStore.layer({ url: single.url }, { prefix }),
        ports: [single.port],
        names: ["g0", "g1", "g2"]
      },
      {
        label: "cluster",
        layer: RedisStore.layer({ clusterNodes: cluster.startupNodes }, { prefix }),
        // Masters only: a replica's MONITOR shows what its master replicates to it.
        ports: [...new Set(await Promise.all([0, 5461, 10923].map((slot) => cluster.masterOf(slot))))],
        names: await namesPerMaster(cluster, "g")
      }
    ]
    const subjects = new Map<string, Subject>()
    for (const target of targets) {
      const scope = await Effect.runPromise(Scope.make())
      scopes.push(scope)
      const store = await Effect.runPromise(Layer.buildWithScope(target.layer, scope).pipe(Effect.orDie))
      const make = <A>(effect: Effect.Effect<A, unknown, import("../../src/store/Store.js").Store | Scope.Scope>) =>
        Effect.runPromise(effect.pipe(Effect.provide(store), Scope.extend(scope), Effect.orDie))
      const limiters = await Promise.all(
        target.names.map((name) =>
          make(RateLimiter.make({ name, limitForPeriod: 1_000_000_000, limitRefreshPeriod: "1 hour" }))
        )
      )
      const breakers = await Promise.all(target.names.map((name) => make(CircuitBreaker.make({ name }))))
      subjects.set(`acquire:${target.label}`, { loop: loopOver(limiters.map((l) => l.acquire())) })
      subjects.set(`call:${target.label}`, {
        loop: loopOver(breakers.map((b) => CircuitBreaker.withCircuitBreaker(Effect.void, b)))
      })
    }
    const cases = [
      { name: "RateLimiter acquire (fixed-window), sequential", kind: "acquire", callers: 1 },
      {
        name: `RateLimiter acquire (fixed-window), ${config.concurrency} concurrent`,
        kind: "acquire",
        callers: config.concurrency
      },
      { name: "CircuitBreaker guarded call, sequential", kind: "call", callers: 1 },
      {
        name: `CircuitBreaker guarded call, ${config.concurrency} concurrent`,
        kind: "call",
        callers: config.concurrency
      }
    ] as const
    const runs = cases.flatMap((c) => targets.map((t) => ({ ...c, key: `${c.kind}:${t.label}`, target: t })))
    for (const run of runs) await perSecond(subjects.get(run.key)!, Math.min(200, config.millis), run.callers)
    const rates = new Map<string, Array<number>>(runs.map((r) => [`${r.name}|${r.target.label}`, []]))
    for (let round = 0; round < config.rounds; round++) {
      for (let i = 0; i < runs.length; i++) {
        const run = runs[(i + round) % runs.length]!
        rates.get(`${run.name}|${run.target.label}`)!.push(
          await perSecond(subjects.get(run.key)!, config.millis, run.callers)
        )
      }
    }
    const rows: Array<RedisClusterRow> = []
    for (const c of cases) {
      const measured = async (target: Target) => ({
        perSecond: median(rates.get(`${c.name}|${target.label}`)!),
        roundTrips: await roundTrips(target.ports, subjects.get(`${c.kind}:${target.label}`)!, config.sample, c.callers)
      })
      rows.push({ name: c.name, single: await measured(targets[0]!), cluster: await measured(targets[1]!) })
    }
    return { _tag: "Measured", concurrency: config.concurrency, rows }
  } finally {
    for (const scope of scopes) await Effect.runPromise(Scope.close(scope, Exit.void))
    await single.stop()
    await cluster.stop()
  }
}

/** The section as Markdown (also printed alone by `BENCH_ONLY=redis-cluster`). */
export const redisClusterTable = (result: RedisClusterResult, config: RedisClusterBenchConfig): string => {
  if (result._tag === "Skipped") return `Not measured in this run: ${result.reason}.`
  const n = (x: number, digits = 0) =>
    Number.isFinite(x)
      ? x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
      : "n/a"
  return `RedisStore on a private 6-node Redis Cluster (3 masters + 3 replicas) against a private
redis-server, same machine, same run. The guards' names are spread over the masters (one per master;
three names on the single server too), callers round-robin over them. Calls per second are the median of
${config.rounds} interleaved rounds of ${config.millis} ms; round trips per call are the commands the clients
sent, counted by every master with \`MONITOR\` (not the commands scripts run, not the cluster client's
topology upkeep), over ${config.sample.toLocaleString("en-US")} calls.

| case | single: calls/s | cluster: calls/s | single: round trips | cluster: round trips |
|---|---:|---:|---:|---:|
${
    result.rows.map((r) =>
      `| ${r.name} | ${n(r.single.perSecond)} | ${n(r.cluster.perSecond)} | ${n(r.single.roundTrips, 2)} | ${
        n(r.cluster.roundTrips, 2)
      } |`
    ).join("\n")
  }`
}
