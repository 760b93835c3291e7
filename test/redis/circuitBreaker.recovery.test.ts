/**
 * A shared circuit must keep working when what it relies on goes wrong without Redis going down: its
 * state vanishes (TTL, restart without persistence, failover), two configurations share one name (a
 * rolling deploy), a published change is missed (the pub/sub connection dropped), a trial call outlives
 * its lease. Its own redis-server (the test kills connections and deletes keys); real clock, each case
 * bounded to about a second.
 */
import { Effect, Exit, ManagedRuntime, Scope, Stream } from "effect"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the ports.
import { type CloseableScope, scopeProvide } from "#port"
import { collectWarnings, TestClock, withTestClock } from "#test-port"
import type { InvalidConfigError } from "../../src/errors/InvalidConfigError.js"
import * as CircuitBreaker from "../../src/guards/CircuitBreaker.js"
import * as RedisStore from "../../src/redis/RedisStore.js"
import { Store } from "../../src/store/Store.js"
import { canRunFaultTests, type PrivateServer, privateServer } from "../helpers/redisServer.js"

const runnable = canRunFaultTests()
const prefix = `cbrecovery-${process.pid}`

let server: PrivateServer | undefined
let instanceA: ManagedRuntime.ManagedRuntime<Store, InvalidConfigError> | undefined
let instanceB: ManagedRuntime.ManagedRuntime<Store, InvalidConfigError> | undefined
let admin: Redis | undefined
let scope: CloseableScope

beforeAll(async () => {
  if (!runnable) return
  server = await privateServer()
  instanceA = ManagedRuntime.make(RedisStore.layer({ url: server.url }, { prefix }))
  instanceB = ManagedRuntime.make(RedisStore.layer({ url: server.url }, { prefix }))
  await instanceA.runPromise(Store)
  await instanceB.runPromise(Store)
  admin = new Redis(server.url)
  scope = await Effect.runPromise(Scope.make())
})

afterAll(async () => {
  if (!runnable) return
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await instanceA?.dispose()
  await instanceB?.dispose()
  admin?.disconnect()
  await server?.stop()
})

type Runtime = ManagedRuntime.ManagedRuntime<Store, InvalidConfigError>
const breakerIn = (runtime: Runtime, options: CircuitBreaker.Options) =>
  runtime.runPromise(scopeProvide(CircuitBreaker.make(options), scope))
const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** Runs `effect` through the breaker; true when it ran (whatever its outcome). */
const attempt = async (
  runtime: Runtime,
  breaker: CircuitBreaker.CircuitBreaker,
  effect: Effect.Effect<unknown, unknown>
) => {
  let ran = false
  await runtime.runPromise(
    Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.suspend(() => (ran = true, effect)), breaker))
  )
  return ran
}
const failing = Effect.fail("boom")

const eventsOf = (breaker: CircuitBreaker.CircuitBreaker) => {
  const seen: Array<string> = []
  Effect.runFork(
    Stream.runForEach(
      breaker.events,
      (e) => Effect.sync(() => seen.push(e._tag === "StateTransition" ? `${e.from}->${e.to}` : e._tag))
    )
  )
  return seen
}

describe.skipIf(!runnable)("a shared circuit recovers from what Redis loses or mixes up", () => {
  it("opens again after its shared state vanished (keys deleted, as by a TTL or a restart without persistence)", async () => {
    const b = await breakerIn(instanceA!, { name: "lost", slidingWindowSize: 4, minimumNumberOfCalls: 4 })
    // A few generations old, so that the fresh state's generation 0 is behind the cached one.
    for (let i = 0; i < 2; i++) {
      await instanceA!.runPromise(b.transitionToOpen)
      await instanceA!.runPromise(b.transitionToClosed)
    }
    // Its own announcements make it read the state: let those reads happen before the state vanishes.
    await sleep(50)
    await admin!.del(...(await admin!.keys(`${prefix}:circuit:{lost}:*`)))
    let ran = 0
    for (let i = 0; i < 20; i++) if (await attempt(instanceA!, b, failing)) ran++
    expect(await Effect.runPromise(b.state)).toBe("Open")
    expect(ran).toBe(4)
    expect(await admin!.hget(`${prefix}:circuit:{lost}:state`, "state")).toBe("Open")
  })

  it("keeps one window when two configurations share a name, and warns the newcomer once", async () => {
    const a = await breakerIn(instanceA!, { name: "mixed", slidingWindowSize: 10, minimumNumberOfCalls: 10 })
    const warnings: Array<string> = []
    // A rolling deploy: the new version has another window size.
    const b = await instanceB!.runPromise(
      scopeProvide(CircuitBreaker.make({ name: "mixed", slidingWindowSize: 20, minimumNumberOfCalls: 10 }), scope)
        .pipe(collectWarnings(warnings))
    )
    let ran = 0
    for (let i = 0; i < 40; i++) {
      const [runtime, breaker] = i % 2 === 0 ? [instanceA!, a] : [instanceB!, b]
      if (await attempt(runtime, breaker, failing)) ran++
    }
    // Ten failures fill the stored window of ten and open the circuit for both (the other instance may
    // admit one more call before the change reaches it).
    expect(ran).toBeGreaterThanOrEqual(10)
    expect(ran).toBeLessThanOrEqual(11)
    expect(await Effect.runPromise(a.state)).toBe("Open")
    expect(await Effect.runPromise(b.state)).toBe("Open")
    expect(warnings.filter((w) => w.includes("different settings"))).toHaveLength(1)
    expect((await Effect.runPromise(b.metrics)).settingsMismatches).toBeGreaterThanOrEqual(5)
    expect((await Effect.runPromise(a.metrics)).settingsMismatches).toBe(0)
  })

  it("lets an explicit reconfigure take over for the fleet; the others are told once", async () => {
    const a = await breakerIn(instanceA!, { name: "steered", slidingWindowSize: 4, minimumNumberOfCalls: 4 })
    const b = await breakerIn(instanceB!, { name: "steered", slidingWindowSize: 4, minimumNumberOfCalls: 4 })
    const seenByA = eventsOf(a)
    await sleep(10)
    await Effect.runPromise(b.reconfigure({ slidingWindowSize: 8, minimumNumberOfCalls: 8 }))
    await attempt(instanceB!, b, Effect.void)
    expect(await admin!.hget(`${prefix}:circuit:{steered}:state`, "wsize")).toBe("8")
    for (let i = 0; i < 3; i++) await attempt(instanceA!, a, Effect.void)
    expect(seenByA.filter((e) => e === "StoreSettingsConflict")).toHaveLength(1)
    expect((await Effect.runPromise(b.metrics)).settingsMismatches).toBe(0)
    // Seven failures among eight calls: the window of eight (not A's four) decides.
    for (let i = 0; i < 3; i++) await attempt(instanceA!, a, failing)
    expect(await Effect.runPromise(a.state)).toBe("Closed")
  })

  it("re-reads the shared state when its pub/sub connection comes back, so a missed change does not leave it ForcedOpen", async () => {
    const a = await breakerIn(instanceA!, { name: "missed" })
    const b = await breakerIn(instanceB!, { name: "missed" })
    await instanceA!.runPromise(a.transitionToForcedOpen)
    for (let i = 0; i < 50 && (await Effect.runPromise(b.state)) !== "ForcedOpen"; i++) await sleep(10)
    expect(await Effect.runPromise(b.state)).toBe("ForcedOpen")
    // Both instances' subscribers drop; the change below is published while they reconnect.
    await admin!.client("KILL", "TYPE", "pubsub")
    await instanceA!.runPromise(a.transitionToClosed)
    const deadline = Date.now() + 2_000
    while ((await Effect.runPromise(b.state)) !== "Closed" && Date.now() < deadline) await sleep(20)
    expect(await Effect.runPromise(b.state)).toBe("Closed")
    expect(await attempt(instanceB!, b, Effect.void)).toBe(true)
  })

  it("re-reads the shared state every 5 s while ForcedOpen, so a change it never heard of cannot hold it there", async () => {
    // Its timers run on a TestClock; Redis and the polling below run in real time.
    const states = await instanceA!.runPromise(
      Effect.gen(function*() {
        const b = yield* CircuitBreaker.make({ name: "silent" })
        yield* b.transitionToForcedOpen
        // Its own announcement makes it read the state once: let that read happen first.
        yield* Effect.promise(() => sleep(50))
        // Changed behind its back, with no message (as when one is lost without a reconnect).
        yield* Effect.promise(() => admin!.hset(`${prefix}:circuit:{silent}:state`, "state", "Closed", "gen", 99))
        yield* TestClock.adjust("4 seconds")
        yield* Effect.promise(() => sleep(50))
        const early = yield* b.state
        yield* TestClock.adjust("1 second")
        for (let i = 0; i < 100 && (yield* b.state) !== "Closed"; i++) yield* Effect.promise(() => sleep(10))
        return [early, yield* b.state]
      }).pipe(Effect.scoped, withTestClock)
    )
    expect(states).toEqual(["ForcedOpen", "Closed"])
  })

  it("runs no more trials than permitted against a dependency slower than the slow-call threshold, and reopens", async () => {
    const slow = await breakerIn(instanceA!, {
      name: "slow",
      slowCallDurationThreshold: "200 millis",
      slowCallRateThreshold: 50,
      permittedNumberOfCallsInHalfOpenState: 1,
      waitDurationInOpenState: "50 millis",
      automaticTransitionFromOpenToHalfOpenEnabled: true
    })
    const seen = eventsOf(slow)
    await instanceA!.runPromise(slow.transitionToOpen)
    let running = 0
    let most = 0
    let trials = 0
    const call = Effect.suspend(() => {
      trials++
      most = Math.max(most, ++running)
      return Effect.ensuring(Effect.sleep("400 millis"), Effect.sync(() => running--))
    })
    const stop = Date.now() + 1_300
    const worker = async () => {
      while (Date.now() < stop) {
        const r = await instanceA!.runPromise(Effect.exit(CircuitBreaker.withCircuitBreaker(call, slow)))
        if (Exit.isFailure(r)) await sleep(20)
      }
    }
    await Promise.all([worker(), worker(), worker()])
    expect(most).toBe(1)
    // Each slow trial reopens the circuit: Open -> HalfOpen -> Open, one trial per half-open period.
    expect(seen.filter((e) => e === "HalfOpen->Open").length).toBe(trials)
    expect(trials).toBeGreaterThanOrEqual(2)
  })

  it("renews a running trial's lease, so a trial slower than the lease keeps its permit alone", async () => {
    // Lease: 1 s (twice the 200 ms slow threshold, at least 1 s); the trial runs 1.5 s.
    const slow = await breakerIn(instanceA!, {
      name: "slower",
      slowCallDurationThreshold: "200 millis",
      slowCallRateThreshold: 50,
      permittedNumberOfCallsInHalfOpenState: 1,
      waitDurationInOpenState: "10 millis"
    })
    await instanceA!.runPromise(slow.transitionToOpen)
    await sleep(20)
    let running = 0
    let most = 0
    const call = Effect.suspend(() => {
      most = Math.max(most, ++running)
      return Effect.ensuring(Effect.sleep("1500 millis"), Effect.sync(() => running--))
    })
    let done = false
    const trial = instanceA!.runPromise(CircuitBreaker.withCircuitBreaker(call, slow)).finally(() => (done = true))
    // Others keep asking for a permit while it runs, past the first lease's expiry.
    while (!done) {
      await attempt(instanceA!, slow, call)
      await sleep(50)
    }
    await trial
    expect(most).toBe(1)
    expect(await Effect.runPromise(slow.state)).toBe("Open")
  })
})
