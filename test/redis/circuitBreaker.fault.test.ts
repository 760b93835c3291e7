/**
 * Redis stops in the middle of a run and comes back: each `onStoreFailure` mode does what it says while
 * it is down, and afterwards every breaker follows the shared state again with nothing stuck. A private
 * redis-server (append-only, so the shared state survives its restart). Real clock: ioredis reconnects
 * within 1 s and breakers probe the store at most once per second, so the file takes about 3 s.
 */
import { Effect, Exit, Layer, ManagedRuntime, Option, Scope, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the ports.
import { type CloseableScope, type DurationInput, failureOf, scopeProvide, type SeriesView, viewSeries } from "#port"
import type { InvalidConfigError } from "../../src/errors/InvalidConfigError.js"
import * as CircuitBreaker from "../../src/guards/CircuitBreaker.js"
import * as Metrics from "../../src/observability/Metrics.js"
import * as RedisStore from "../../src/redis/RedisStore.js"
import * as Registry from "../../src/registry/Registry.js"
import * as StoreModule from "../../src/store/Store.js"
import { Store } from "../../src/store/Store.js"
import { canRunFaultTests, type PrivateServer, privateServer } from "../helpers/redisServer.js"

const runnable = canRunFaultTests()
const rejections: Array<unknown> = []
const onRejection = (reason: unknown) => rejections.push(reason)

let server: PrivateServer | undefined
let runtime: ManagedRuntime.ManagedRuntime<Store, InvalidConfigError> | undefined
let other: ManagedRuntime.ManagedRuntime<Store, InvalidConfigError> | undefined
let scope: CloseableScope | undefined

beforeAll(async () => {
  process.on("unhandledRejection", onRejection)
  if (!runnable) return
  server = await privateServer({ appendOnly: true })
  runtime = ManagedRuntime.make(RedisStore.layer({ url: server.url }, { prefix: "fault" }))
  other = ManagedRuntime.make(RedisStore.layer({ url: server.url }, { prefix: "fault" }))
  await runtime.runPromise(Store)
  await other.runPromise(Store)
  scope = await Effect.runPromise(Scope.make())
})

afterAll(async () => {
  if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
  await runtime?.dispose()
  await other?.dispose()
  await server?.stop()
  process.off("unhandledRejection", onRejection)
})

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const make = async (
  name: string,
  onStoreFailure: CircuitBreaker.Options["onStoreFailure"],
  wait: DurationInput = "300 millis",
  overrides: Partial<CircuitBreaker.Options> = {}
) => {
  const breaker = await runtime!.runPromise(scopeProvide(
    CircuitBreaker.make({
      name,
      slidingWindowSize: 4,
      minimumNumberOfCalls: 4,
      waitDurationInOpenState: wait,
      permittedNumberOfCallsInHalfOpenState: 1,
      ...(onStoreFailure === undefined ? {} : { onStoreFailure }),
      ...overrides
    }),
    scope!
  ))
  const events: Array<string> = []
  Effect.runFork(
    Stream.runForEach(
      breaker.events,
      (e) => Effect.sync(() => events.push(e._tag === "StateTransition" ? `${e.from}->${e.to}` : e._tag))
    )
  )
  return { breaker, events }
}

const call = <A, E>(breaker: CircuitBreaker.CircuitBreaker, effect: Effect.Effect<A, E>) =>
  runtime!.runPromise(Effect.exit(CircuitBreaker.withCircuitBreaker(effect, breaker)))

/** The typed error a call failed with (undefined if it succeeded). */
const errorOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(failureOf(exit.cause)) : undefined

/** The value of the series `name` with exactly these labels (undefined if there is none). */
const valueOf = (views: ReadonlyArray<SeriesView>, name: string, labels: Record<string, string>) => {
  const wanted = JSON.stringify(Object.entries(labels).sort())
  const found = views.find((v) => v.name === name && JSON.stringify([...v.labels].sort()) === wanted)
  return found?.type === "counter" || found?.type === "gauge" ? found.value : undefined
}

describe.skipIf(!runnable)("a shared breaker when Redis fails", () => {
  it("fail-open, fail-closed and local-fallback while Redis is down; shared state resumed after", async () => {
    const open = await make("fail-open", "fail-open")
    const closed = await make("fail-closed", "fail-closed")
    const local = await make("local", undefined) // the store's default: local-fallback
    const stuck = await make("stuck", "local-fallback", "1 second")
    // Before the outage: the shared `stuck` circuit is open, a trial due 1 s later.
    await runtime!.runPromise(stuck.breaker.transitionToOpen)
    // ...and the shared `half` circuit is half-open, its only trial permit leased (for 1 s: twice the
    // slow-call threshold, at least 1 s) by an instance that will never report.
    const half = await make("half", "local-fallback", "1 millis", { slowCallDurationThreshold: "500 millis" })
    await runtime!.runPromise(half.breaker.transitionToOpen)
    await sleep(5)
    const store = await runtime!.runPromise(Store)
    const settings = (half.breaker as unknown as { settings: Parameters<typeof store.circuitBreaker.read>[1] }).settings
    expect((await Effect.runPromise(store.circuitBreaker.acquire("half", settings, "crashed:1"))).admission).toBe(
      "Trial"
    )
    expect(Exit.isSuccess(await call(open.breaker, Effect.succeed(1)))).toBe(true)

    await server!.stop()

    // fail-open: every call runs, failures trip nothing.
    let ran = 0
    for (let i = 0; i < 6; i++) {
      await call(
        open.breaker,
        Effect.sync(() => ran++).pipe(Effect.andThen(Effect.fail("x")))
      )
    }
    expect(ran).toBe(6)
    expect(await Effect.runPromise(open.breaker.state)).toBe("Closed")

    // fail-closed: the call during which the store failed ran; the next ones are refused with the cause.
    expect(Exit.isSuccess(await call(closed.breaker, Effect.succeed(1)))).toBe(true)
    const refused = await call(closed.breaker, Effect.succeed(1))
    const error = errorOf(refused) as CircuitBreaker.CallNotPermittedError
    expect(error._tag).toBe("CallNotPermittedError")
    expect(error.cause?._tag).toBe("StoreError")
    expect(error.message).toContain("redis store failed")
    expect(StoreModule.isStoreFailure(error)).toBe(true)

    // local-fallback: an in-process breaker with the same settings trips on its own.
    for (let i = 0; i < 4; i++) await call(local.breaker, Effect.fail("x"))
    expect(await Effect.runPromise(local.breaker.state)).toBe("Open")
    const localRefusal = await call(local.breaker, Effect.succeed(1))
    const localError = errorOf(localRefusal) as CircuitBreaker.CallNotPermittedError
    expect(localError.state).toBe("Open")
    expect(StoreModule.isStoreFailure(localError)).toBe(false)
    // ...and a shared Open state is kept open by the fallback.
    expect(await Effect.runPromise(stuck.breaker.state)).toBe("Open")
    // Once per outage: an event, a warning, and one count in the metrics.
    for (const b of [open, closed, local]) expect(b.events.filter((e) => e === "StoreUnavailable")).toHaveLength(1)
    // The collected series (what Prometheus.layer exports; read here from the collector, so that the file
    // does not need the Prometheus exposition, which test/Prometheus.test.ts covers).
    const metrics = ManagedRuntime.make(Metrics.layer({ prefix: "fault" }).pipe(Layer.provideMerge(Registry.layer())))
    const views = await metrics.runPromise(
      Effect.flatMap(
        Metrics.Collector,
        (collector) =>
          Effect.andThen(
            Effect.forEach([open, closed, local, stuck], (b) => scopeProvide(collector.track(b.breaker), scope!)),
            Effect.map(collector.series, (series) => series.map(viewSeries))
          )
      )
    )
    const outages = "fault_circuitbreaker_store_outages"
    const unavailable = "fault_circuitbreaker_store_unavailable_calls"
    for (const name of ["fail-open", "fail-closed", "local"]) {
      expect(valueOf(views, outages, { name })).toBe(1)
      expect(valueOf(views, "fault_circuitbreaker_store_available", { name })).toBe(0)
    }
    expect(valueOf(views, outages, { name: "stuck" })).toBe(0)
    // Each call decided without the store is counted under its mode; the call that found the store gone
    // was decided from the cached Closed state, before the outage: fail-open ran 5 of its 6 without it,
    // fail-closed refused 1, local-fallback decided 3 of its 4 failing calls and its refusal in process.
    expect(valueOf(views, unavailable, { name: "fail-open", mode: "fail-open" })).toBe(5)
    expect(valueOf(views, unavailable, { name: "fail-closed", mode: "fail-closed" })).toBe(1)
    expect(valueOf(views, unavailable, { name: "local", mode: "local-fallback" })).toBe(4)
    await metrics.dispose()

    // Made while Redis is down: no failure, no wait; it starts in its failure mode.
    const madeAt = Date.now()
    const late = await make("late", "local-fallback")
    expect(Date.now() - madeAt).toBeLessThan(500)
    expect(late.breaker.state.pipe(Effect.runSync)).toBe("Closed")
    expect(Exit.isSuccess(await call(late.breaker, Effect.succeed(1)))).toBe(true)

    await server!.start()

    // Within ioredis' reconnect backoff (≤ 1 s) plus one probe period (1 s), every breaker is back.
    const deadline = Date.now() + 5_000
    // (`stuck` refused locally from its cached Open state all along: it never noticed the outage.)
    const all = [open, closed, local, late]
    while (all.some((b) => !b.events.includes("StoreRecovered")) && Date.now() < deadline) {
      for (const b of all) await call(b.breaker, Effect.succeed(1))
      await sleep(100)
    }
    for (const b of all) expect(b.events).toContain("StoreRecovered")
    // The local trip stayed local: the shared circuit was Closed all along.
    expect(await Effect.runPromise(local.breaker.state)).toBe("Closed")
    expect(Exit.isSuccess(await call(closed.breaker, Effect.succeed(1)))).toBe(true)
    // The shared Open circuit survived the restart and is not stuck: its trial closes it.
    const trialDeadline = Date.now() + 3_000
    while ((await Effect.runPromise(stuck.breaker.state)) !== "Closed" && Date.now() < trialDeadline) {
      await call(stuck.breaker, Effect.succeed(1))
      await sleep(50)
    }
    expect(await Effect.runPromise(stuck.breaker.state)).toBe("Closed")
    // Nor is the half-open one: the dead holder's lease expired in Redis, a live trial closes it.
    const halfDeadline = Date.now() + 3_000
    while ((await Effect.runPromise(half.breaker.state)) !== "Closed" && Date.now() < halfDeadline) {
      await call(half.breaker, Effect.succeed(1))
      await sleep(50)
    }
    expect(await Effect.runPromise(half.breaker.state)).toBe("Closed")

    // Pub/sub is back too: a transition made by another instance reaches this one.
    const otherLocal = await other!.runPromise(
      scopeProvide(CircuitBreaker.make({ name: "local", slidingWindowSize: 4, minimumNumberOfCalls: 4 }), scope!)
    )
    await other!.runPromise(otherLocal.transitionToForcedOpen)
    const pubsubDeadline = Date.now() + 2_000
    while ((await Effect.runPromise(local.breaker.state)) !== "ForcedOpen" && Date.now() < pubsubDeadline) {
      await sleep(10)
    }
    expect(await Effect.runPromise(local.breaker.state)).toBe("ForcedOpen")
    // ...including to the breaker made during the outage, subscribed in the background once Redis was back.
    const otherLate = await other!.runPromise(
      scopeProvide(CircuitBreaker.make({ name: "late", slidingWindowSize: 4, minimumNumberOfCalls: 4 }), scope!)
    )
    await other!.runPromise(otherLate.transitionToForcedOpen)
    const lateDeadline = Date.now() + 2_000
    while ((await Effect.runPromise(late.breaker.state)) !== "ForcedOpen" && Date.now() < lateDeadline) await sleep(10)
    expect(await Effect.runPromise(late.breaker.state)).toBe("ForcedOpen")

    expect(rejections).toEqual([])
  })

  it("a stalled Redis (SIGSTOP) costs one store timeout, then calls are decided without it until it answers", async () => {
    const stalled = await make("stalled", "local-fallback")
    expect(Exit.isSuccess(await call(stalled.breaker, Effect.succeed(1)))).toBe(true)
    server!.pause()
    try {
      // The call ran; its record waits the store's timeout (250 ms by default), not ioredis' 1 s.
      let start = performance.now()
      expect(Exit.isSuccess(await call(stalled.breaker, Effect.succeed(1)))).toBe(true)
      const first = performance.now() - start
      expect(first).toBeGreaterThanOrEqual(200)
      expect(first).toBeLessThan(900)
      // The next calls, concurrent or not, do not ask the stalled Redis (until the probe period ends).
      start = performance.now()
      const results = await runtime!.runPromise(
        Effect.forEach(
          Array.from({ length: 20 }),
          () => Effect.exit(CircuitBreaker.withCircuitBreaker(Effect.succeed(1), stalled.breaker)),
          { concurrency: "unbounded" }
        )
      )
      expect(results.every(Exit.isSuccess)).toBe(true)
      expect(performance.now() - start).toBeLessThan(150)
      expect(stalled.events.filter((e) => e === "StoreUnavailable")).toHaveLength(1)
    } finally {
      server!.resume()
    }
    const deadline = Date.now() + 3_000
    while (!stalled.events.includes("StoreRecovered") && Date.now() < deadline) {
      await call(stalled.breaker, Effect.succeed(1))
      await sleep(50)
    }
    expect(stalled.events).toContain("StoreRecovered")
  })
  it("closing a breaker while Redis is stalled (SIGSTOP) waits at most about the store's timeout", async () => {
    const closing = await runtime!.runPromise(
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        yield* scopeProvide(CircuitBreaker.make({ name: "closing" }), scope)
        server!.pause()
        const start = performance.now()
        yield* Scope.close(scope, Exit.void)
        return performance.now() - start
      }).pipe(Effect.ensuring(Effect.sync(() => server!.resume())))
    )
    // Its unsubscribe is bounded like every store call (250 ms by default), not by ioredis' 1 s timeout.
    expect(closing).toBeLessThan(800)
  })
})
