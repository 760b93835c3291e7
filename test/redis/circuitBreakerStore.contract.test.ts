/**
 * One contract, two stores: the in-memory CircuitBreakerStore (a shared breaker's local fallback) and
 * the Redis one must answer the same operations the same way — the Redis one both on one server and on a
 * real local Redis Cluster (six nodes started by test/helpers/redisCluster.ts, about 3 s of start-up;
 * there, changes are announced over sharded pub/sub) — and on Valkey when `valkey-server` is installed
 * (skipped with a notice otherwise: the package is not in this machine's Debian registry, see
 * `valkeyTarget`). Real clock on all sides (Redis decides with its own
 * TIME): waits and leases are 100–300 ms and each subject runs in a few seconds. Names carry braces, so
 * the cluster runs them through the hash-tag escaping.
 */
import { Effect, Exit, ManagedRuntime, Scope } from "effect"
import { Redis } from "ioredis"
// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the ports.
import { scopeProvide } from "#port"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { InvalidConfigError } from "../../src/errors/InvalidConfigError.js"
import * as RedisStore from "../../src/redis/RedisStore.js"
import type { CircuitBreakerStore, CircuitReply, CircuitSettings } from "../../src/store/CircuitBreakerStore.js"
import { makeMemoryCircuitBreakerStore } from "../../src/store/internal/memoryCircuitBreakerStore.js"
import { Store } from "../../src/store/Store.js"
import { clusterTarget } from "../helpers/redisCluster.js"
import { redisTarget, valkeyTarget } from "../helpers/redisServer.js"
import { scriptCallsDuring } from "./fixtures/breakerRoundTrips.js"

const [target, clustered, valkey] = await Promise.all([redisTarget(), clusterTarget(), valkeyTarget()])
const available = target._tag === "Available"
// Unique per run: a REDIS_URL server may keep an earlier run's keys (their TTL is an hour).
const prefix = `cbcontract-${process.pid}-${Date.now()}`

let runtime: ManagedRuntime.ManagedRuntime<Store, InvalidConfigError> | undefined
let redisStore: CircuitBreakerStore | undefined
let inspector: Redis | undefined
let clusterRuntime: ManagedRuntime.ManagedRuntime<Store, InvalidConfigError> | undefined
let clusterStore: CircuitBreakerStore | undefined
let valkeyRuntime: ManagedRuntime.ManagedRuntime<Store, InvalidConfigError> | undefined
let valkeyStore: CircuitBreakerStore | undefined

beforeAll(async () => {
  if (clustered._tag === "Available") {
    const clusterNodes = clustered.cluster.startupNodes
    clusterRuntime = ManagedRuntime.make(RedisStore.layer({ clusterNodes }, { prefix }))
    clusterStore = (await clusterRuntime.runPromise(Store)).circuitBreaker
  }
  if (valkey._tag === "Available") {
    valkeyRuntime = ManagedRuntime.make(RedisStore.layer({ url: valkey.url }, { prefix }))
    valkeyStore = (await valkeyRuntime.runPromise(Store)).circuitBreaker
  }
  if (target._tag !== "Available") return
  runtime = ManagedRuntime.make(RedisStore.layer({ url: target.url }, { prefix }))
  redisStore = (await runtime.runPromise(Store)).circuitBreaker
  inspector = new Redis(target.url)
})

afterAll(async () => {
  await runtime?.dispose()
  await clusterRuntime?.dispose()
  await valkeyRuntime?.dispose()
  if (valkey._tag === "Available") await valkey.stop()
  inspector?.disconnect()
  if (target._tag === "Available") await target.stop()
  if (clustered._tag === "Available") await clustered.cluster.stop()
})

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const settingsOf = (overrides: Partial<CircuitSettings> = {}): CircuitSettings => ({
  failureRateThreshold: 50,
  slowCallRateThreshold: 100,
  slowCallDurationThresholdMillis: 1_000,
  slidingWindowType: "COUNT_BASED",
  slidingWindowSize: 4,
  minimumNumberOfCalls: 4,
  permittedNumberOfCallsInHalfOpenState: 2,
  waitsInOpenMillis: [150],
  automaticTransitionFromOpenToHalfOpenEnabled: false,
  maxWaitInHalfOpenMillis: 0,
  transitionToStateAfterWaitDuration: "Open",
  leaseMillis: 150,
  ttlMillis: 60_000,
  ...overrides
})

const subjects: Array<[string, () => Promise<CircuitBreakerStore>]> = [
  ["memory", () => run(makeMemoryCircuitBreakerStore)]
]
if (available) subjects.push(["redis", async () => redisStore!])
if (clustered._tag === "Available") subjects.push(["redis-cluster", async () => clusterStore!])
if (valkey._tag === "Available") subjects.push(["valkey", async () => valkeyStore!])

let names = 0
const fresh = () => `breaker-${names++}`

const transitions = (reply: { readonly changes: CircuitReply["changes"] }) =>
  reply.changes.flatMap((c) => c._tag === "Transition" ? [`${c.from}->${c.to}`] : [])

describe.each(subjects)("CircuitBreakerStore contract: %s", (_label, makeStore) => {
  // With braces: on Redis they go through the hash-tag escaping (and on a cluster, one slot per breaker).
  const fresh = () => `breaker-{${names++}}`
  let store: CircuitBreakerStore
  beforeAll(async () => {
    store = await makeStore()
  })

  const record = (
    name: string,
    settings: CircuitSettings,
    outcome: "Success" | "Failure" | "Ignored",
    generation: number,
    durationMillis = 1,
    leaseId?: string
  ) => run(store.record(name, settings, { generation, durationMillis, outcome, leaseId }))

  it("starts Closed and opens once the minimum number of calls reaches the failure rate", async () => {
    const name = fresh()
    const s = settingsOf()
    const first = await run(store.read(name, s))
    expect(first.state).toBe("Closed")
    const g = first.generation
    await record(name, s, "Failure", g)
    await record(name, s, "Success", g)
    const third = await record(name, s, "Failure", g)
    expect(third.snapshot).toMatchObject({ state: "Closed", calls: 3, failed: 2 })
    const fourth = await record(name, s, "Success", g)
    expect(transitions(fourth)).toEqual(["Closed->Open"])
    expect(fourth.changes[0]).toMatchObject({ _tag: "FailureRateExceeded", rate: 50 })
    expect(fourth.snapshot).toMatchObject({ state: "Open", attempts: 1, calls: 4, failed: 2 })
    expect(fourth.snapshot.openForMillis).toBeGreaterThan(100)
    expect(fourth.snapshot.openForMillis).toBeLessThanOrEqual(150)
    // A result from the ended Closed period is dropped.
    const late = await record(name, s, "Failure", g)
    expect(late.snapshot.calls).toBe(4)
  })

  it("keeps an exact count window: the oldest call leaves when a new one comes", async () => {
    const name = fresh()
    const s = settingsOf({ failureRateThreshold: 60 })
    const g = (await run(store.read(name, s))).generation
    for (const outcome of ["Failure", "Failure", "Success", "Success", "Success"] as const) {
      await record(name, s, outcome, g)
    }
    const snapshot = await run(store.read(name, s))
    expect(snapshot).toMatchObject({ state: "Closed", calls: 4, failed: 1, minimumNumberOfCalls: 4 })
  })

  it("opens on the slow-call rate, counting slow failures apart", async () => {
    const name = fresh()
    const s = settingsOf({ slowCallRateThreshold: 50, slowCallDurationThresholdMillis: 10, failureRateThreshold: 100 })
    const g = (await run(store.read(name, s))).generation
    await record(name, s, "Success", g, 50)
    await record(name, s, "Failure", g, 50)
    await record(name, s, "Success", g, 1)
    const last = await record(name, s, "Success", g, 1)
    expect(last.changes.map((c) => c._tag)).toEqual(["SlowCallRateExceeded", "Transition"])
    expect(last.snapshot).toMatchObject({ state: "Open", slow: 2, slowFailed: 1, totalDurationMillis: 102 })
  })

  it("refuses while Open, then leases the permitted trial calls and closes on their success", async () => {
    const name = fresh()
    const s = settingsOf()
    await run(store.transition(name, s, "Open"))
    const refused = await run(store.acquire(name, s, "a"))
    expect(refused.admission).toBe("Refused")
    expect(refused.snapshot.notPermitted).toBe(1)
    await sleep(170)
    const a = await run(store.acquire(name, s, "a"))
    expect(a.admission).toBe("Trial")
    expect(transitions(a)).toEqual(["Open->HalfOpen"])
    const b = await run(store.acquire(name, s, "b"))
    expect(b.admission).toBe("Trial")
    expect(b.snapshot.leases).toBe(2)
    expect((await run(store.acquire(name, s, "c"))).admission).toBe("Refused")
    // An ignored trial gives its permit back.
    await record(name, s, "Ignored", a.snapshot.generation, 1, "a")
    expect((await run(store.acquire(name, s, "c"))).admission).toBe("Trial")
    await record(name, s, "Success", a.snapshot.generation, 1, "b")
    const closed = await record(name, s, "Success", a.snapshot.generation, 1, "c")
    expect(transitions(closed)).toEqual(["HalfOpen->Closed"])
    expect(closed.snapshot).toMatchObject({ state: "Closed", attempts: 0, calls: 0 })
  })

  it("reopens from HalfOpen on failing trials, with the next wait of the list", async () => {
    const name = fresh()
    const s = settingsOf({ waitsInOpenMillis: [100, 250], permittedNumberOfCallsInHalfOpenState: 1 })
    await run(store.transition(name, s, "Open"))
    await sleep(120)
    const trial = await run(store.acquire(name, s, "t"))
    expect(trial.admission).toBe("Trial")
    const reopened = await record(name, s, "Failure", trial.snapshot.generation, 1, "t")
    expect(transitions(reopened)).toEqual(["HalfOpen->Open"])
    expect(reopened.snapshot.attempts).toBe(2)
    expect(reopened.snapshot.openForMillis).toBeGreaterThan(200)
  })

  it("expires a trial lease: a holder that never reports does not block the circuit", async () => {
    const name = fresh()
    const s = settingsOf({ permittedNumberOfCallsInHalfOpenState: 1, leaseMillis: 100 })
    await run(store.transition(name, s, "Open", 0))
    const held = await run(store.acquire(name, s, "crashed"))
    expect(held.admission).toBe("Trial")
    expect((await run(store.acquire(name, s, "other"))).admission).toBe("Refused")
    await sleep(130)
    const next = await run(store.acquire(name, s, "other"))
    expect(next.admission).toBe("Trial")
    // A holder that was only slow still counts in its half-open period: its failure reopens the circuit,
    // and the result of the trial admitted in its place belongs to an ended period.
    const late = await record(name, s, "Failure", held.snapshot.generation, 1, "crashed")
    expect(late.snapshot.state).toBe("Open")
    const done = await record(name, s, "Success", next.snapshot.generation, 1, "other")
    expect(done.snapshot).toMatchObject({ state: "Open", calls: 1, failed: 1 })
  })

  it("moves Open -> HalfOpen by itself when automatic, and leaves HalfOpen after its maximum wait", async () => {
    const name = fresh()
    const s = settingsOf({
      automaticTransitionFromOpenToHalfOpenEnabled: true,
      waitsInOpenMillis: [100],
      maxWaitInHalfOpenMillis: 100,
      transitionToStateAfterWaitDuration: "Closed"
    })
    await run(store.transition(name, s, "Open"))
    await sleep(120)
    const half = await run(store.read(name, s))
    expect(half.state).toBe("HalfOpen")
    expect(half.halfOpenForMillis).toBeGreaterThan(50)
    await sleep(120)
    expect((await run(store.read(name, s))).state).toBe("Closed")
  })

  it("applies manual transitions with Resilience4j's legality, and resets", async () => {
    const name = fresh()
    const s = settingsOf()
    const illegal = await run(store.transition(name, s, "HalfOpen"))
    expect(illegal.permitted).toBe(false)
    expect(illegal.snapshot.state).toBe("Closed")
    const forced = await run(store.transition(name, s, "ForcedOpen"))
    expect(transitions(forced)).toEqual(["Closed->ForcedOpen"])
    expect((await run(store.acquire(name, s, "x"))).admission).toBe("Refused")
    await run(store.transition(name, s, "MetricsOnly"))
    expect((await run(store.transition(name, s, "Open"))).permitted).toBe(false)
    const g = (await run(store.read(name, s))).generation
    for (let i = 0; i < 4; i++) await record(name, s, "Failure", g)
    const metricsOnly = await run(store.read(name, s))
    expect(metricsOnly).toMatchObject({ state: "MetricsOnly", failed: 4 })
    const reset = await run(store.reset(name, s))
    expect(reset.changes.map((c) => c._tag)).toEqual(["Transition", "Reset"])
    expect(reset.snapshot).toMatchObject({ state: "Closed", calls: 0, attempts: 0 })
    expect(reset.snapshot.generation).toBeGreaterThan(g)
  })

  it("reports a MetricsOnly threshold once", async () => {
    const name = fresh()
    const s = settingsOf()
    await run(store.transition(name, s, "MetricsOnly"))
    const g = (await run(store.read(name, s))).generation
    const replies = []
    for (let i = 0; i < 6; i++) replies.push(await record(name, s, "Failure", g))
    expect(replies.flatMap((r) => r.changes.map((c) => c._tag))).toEqual(["FailureRateExceeded"])
  })

  it("counts a time window in one-second buckets that age out", async () => {
    const name = fresh()
    const s = settingsOf({ slidingWindowType: "TIME_BASED", slidingWindowSize: 1, minimumNumberOfCalls: 10 })
    const g = (await run(store.read(name, s))).generation
    await record(name, s, "Failure", g)
    await record(name, s, "Success", g)
    const now = await run(store.read(name, s))
    expect(now).toMatchObject({ calls: 2, failed: 1, minimumNumberOfCalls: 10 })
    await sleep(1_050)
    expect(await run(store.read(name, s))).toMatchObject({ calls: 0, failed: 0 })
  })

  it("announces every change to subscribers", async () => {
    const name = fresh()
    const s = settingsOf()
    const seen: Array<string> = []
    const first = await run(store.read(name, s))
    let since = { incarnation: first.incarnation, sequence: first.sequence }
    let reading: Promise<void> = Promise.resolve()
    const scope = await run(Scope.make())
    await run(scopeProvide(
      store.subscribe(name, () => {
        // Told that the state changed: read the changes since the last read, one read after the other.
        reading = reading.then(() => run(store.follow(name, s, since))).then((reply) => {
          seen.push(...transitions(reply))
          since = { incarnation: reply.snapshot.incarnation, sequence: reply.snapshot.sequence }
        })
      }),
      scope
    ))
    await run(store.transition(name, s, "Open"))
    await run(store.transition(name, s, "Closed"))
    for (let i = 0; i < 50 && seen.length < 2; i++) await sleep(10)
    expect(seen).toEqual(["Closed->Open", "Open->Closed"])
    await run(Scope.close(scope, Exit.void))
  })
})

describe("in-memory circuit breaker store", () => {
  it("has one configuration per breaker: new settings replace the Closed window at once", async () => {
    const store = await run(makeMemoryCircuitBreakerStore)
    const s = settingsOf()
    const g = (await run(store.read("solo", s))).generation
    await run(store.record("solo", s, { generation: g, durationMillis: 1, outcome: "Failure" }))
    expect((await run(store.read("solo", s))).calls).toBe(1)
    expect(await run(store.read("solo", { ...s, takeOver: true }))).toMatchObject({ calls: 1, settingsConflict: false })
    expect((await run(store.read("solo", settingsOf({ slidingWindowSize: 8 })))).calls).toBe(0)
  })
})

describe.skipIf(!available)("Redis circuit breaker store: keys", () => {
  it("keeps every key under prefix:circuit:<name>: with a TTL refreshed by each operation", async () => {
    const s = settingsOf({ ttlMillis: 30_000 })
    const name = fresh()
    const g = (await run(redisStore!.read(name, s))).generation
    await run(redisStore!.record(name, s, { generation: g, durationMillis: 1, outcome: "Failure" }))
    await run(redisStore!.transition(name, s, "Open", 0))
    await run(redisStore!.acquire(name, s, "lease"))
    const keys = (await inspector!.keys(`${prefix}:circuit:{${name}}:*`)).sort()
    expect(keys).toEqual(
      ["leases", "log", "state"].map((k) => `${prefix}:circuit:{${name}}:${k}`)
    )
    for (const key of keys) {
      const ttl = await inspector!.pttl(key)
      expect(ttl).toBeGreaterThan(25_000)
      expect(ttl).toBeLessThanOrEqual(30_000)
    }
    await run(redisStore!.transition(name, s, "Closed"))
    await run(
      redisStore!.record(name, s, {
        generation: (await run(redisStore!.read(name, s))).generation,
        durationMillis: 1,
        outcome: "Success"
      })
    )
    expect(await inspector!.pttl(`${prefix}:circuit:{${name}}:window`)).toBeGreaterThan(25_000)
  })

  it("rolls a time window by the seconds passed or by the buckets held, whichever is fewer", async () => {
    const s = settingsOf({ slidingWindowType: "TIME_BASED", slidingWindowSize: 60, minimumNumberOfCalls: 100 })
    const name = fresh()
    const stateKey = `${prefix}:circuit:{${name}}:state`
    const windowKey = `${prefix}:circuit:{${name}}:window`
    const g = (await run(redisStore!.read(name, s))).generation
    await run(redisStore!.record(name, s, { generation: g, durationMillis: 5, outcome: "Failure" }))
    const [seconds] = await inspector!.time()
    const now = Number(seconds)
    /** Pretends the recorded bucket is `age` seconds old and the last roll was `sinceRoll` seconds ago. */
    const age = async (age: number, sinceRoll: number) => {
      const fields = await inspector!.hgetall(windowKey)
      await inspector!.del(windowKey)
      for (const [field, value] of Object.entries(fields)) {
        await inspector!.hset(windowKey, `${field[0]}${now - age}`, value)
      }
      await inspector!.hset(stateKey, "head", now - sinceRoll)
    }
    await age(30, 20) // 20 seconds passed: the buckets held are scanned; 30 s old is still inside
    expect(await run(redisStore!.read(name, s))).toMatchObject({ calls: 1, failed: 1, totalDurationMillis: 5 })
    await age(61, 20) // now outside the window
    expect(await run(redisStore!.read(name, s))).toMatchObject({ calls: 0, failed: 0, totalDurationMillis: 0 })
    await run(redisStore!.record(name, s, { generation: g, durationMillis: 5, outcome: "Failure" }))
    await age(60, 1) // one second passed: that second's bucket is dropped by name
    expect(await run(redisStore!.read(name, s))).toMatchObject({ calls: 0, failed: 0 })
    expect(await inspector!.hlen(windowKey)).toBe(0)
  })

  it("keeps the settings in force while instances use them: a second configuration neither clears the window nor wins", async () => {
    const name = fresh()
    const stateKey = `${prefix}:circuit:{${name}}:state`
    const first = settingsOf({ slidingWindowSize: 10, minimumNumberOfCalls: 10 })
    const second = settingsOf({ slidingWindowSize: 20, minimumNumberOfCalls: 10 })
    const g = (await run(redisStore!.read(name, first))).generation
    // A rolling deploy: the two configurations alternate; every call fails.
    let last: CircuitReply | undefined
    for (let i = 0; i < 10; i++) {
      last = await run(redisStore!.record(name, i % 2 === 0 ? first : second, {
        generation: g,
        durationMillis: 1,
        outcome: "Failure"
      }))
    }
    expect(last!.snapshot).toMatchObject({ state: "Open", settingsConflict: true })
    expect((await run(redisStore!.read(name, first))).settingsConflict).toBe(false)
    // Waits differ per instance with a jittered Schedule: they are no conflict.
    expect((await run(redisStore!.read(name, { ...first, waitsInOpenMillis: [170, 340] }))).settingsConflict).toBe(
      false
    )
    // Nobody used the stored settings for 30 s: the newcomer's take over (a new size starts a new window).
    await run(redisStore!.transition(name, first, "Closed"))
    await run(redisStore!.record(name, first, { generation: g + 2, durationMillis: 1, outcome: "Failure" }))
    await inspector!.hset(stateKey, "fpAt", Number((await inspector!.time())[0]) * 1000 - 31_000)
    const taken = await run(redisStore!.read(name, second))
    expect(taken).toMatchObject({ state: "Closed", calls: 0, settingsConflict: false })
    expect((await run(redisStore!.read(name, first))).settingsConflict).toBe(true)
  })

  it("starts a new incarnation when the state is lost, and counts a call in flight in it", async () => {
    const s = settingsOf()
    const name = fresh()
    const before = await run(redisStore!.transition(name, s, "Open"))
    const closed = await run(redisStore!.transition(name, s, "Closed"))
    expect(closed.snapshot.generation).toBeGreaterThan(before.snapshot.generation)
    await inspector!.del(...(await inspector!.keys(`${prefix}:circuit:{${name}}:*`)))
    // A call admitted before the loss counts in the fresh state...
    const after = await run(redisStore!.record(name, s, {
      incarnation: closed.snapshot.incarnation,
      generation: closed.snapshot.generation,
      durationMillis: 1,
      outcome: "Failure"
    }))
    expect(after.snapshot.incarnation).toBeGreaterThan(closed.snapshot.incarnation)
    expect(after.snapshot).toMatchObject({ state: "Closed", generation: 0, calls: 1, failed: 1 })
    // ...one of the lost incarnation whose generation number is reused is not.
    const stale = await run(redisStore!.record(name, s, {
      incarnation: closed.snapshot.incarnation,
      generation: 0,
      durationMillis: 1,
      outcome: "Failure"
    }))
    expect(stale.snapshot.calls).toBe(1)
  })

  it("costs exactly one EVALSHA per operation", async () => {
    const s = settingsOf()
    const name = fresh()
    await run(redisStore!.read(name, s)) // loads the script if needed
    const calls = await scriptCallsDuring(
      target._tag === "Available" ? target.url : "",
      `${prefix}:circuit:{${name}}:`,
      async () => {
        const g = (await run(redisStore!.read(name, s))).generation
        for (let i = 0; i < 10; i++) {
          await run(redisStore!.record(name, s, { generation: g, durationMillis: 1, outcome: "Success" }))
        }
        await run(redisStore!.acquire(name, s, "x"))
      }
    )
    expect(calls).toBe(12)
  })
})
