import { itScoped, TestClock } from "#test-port"
/**
 * The limiter against a simulated dependency with a fixed true capacity C: a call takes `BASE` millis
 * while at most C calls are in the dependency, and proportionally longer beyond (calls queue inside
 * it). Twice as many closed-loop callers as C keep it saturated. In virtual time, the limit must come
 * within 25% of C by 60 s and stay there (every second from 50 to 60 s), follow C when it halves, and
 * recover when it returns (every second of the last 20 of each phase).
 *
 * Measured (limits read each second): gradient 60–65 in 50–60 s, 35 after the halving (C/2 = 30, so
 * within +17%), 62–67 after the recovery; aimd with `backoffRatio` 0.95 runs a sawtooth of 56–62,
 * 27–32 and 53–62, at least 4.5 inside every bound. With the default 0.9, three windows in a row back
 * off before the queue inside the dependency has drained (62 → 45), touching the 25% bound exactly.
 */
import { describe, expect } from "@effect/vitest"
import { Deferred, Duration, Effect } from "effect"
import * as AdaptiveLimiter from "../src/guards/AdaptiveLimiter.js"

const BASE = 1000
const C = 60
/** The dependency's clock resolution: calls complete on ticks, so TestClock has few wake-ups to run. */
const TICK = 250

/**
 * The dependency: a call takes BASE × max(1, inFlight / capacity) millis (rounded up to a tick),
 * with inFlight counted when it arrives. One fiber completes the due calls every tick (TestClock runs
 * each sleep as its own step, so a sleep per call would make 180 simulated seconds slow).
 */
const dependency = Effect.gen(function*() {
  const state = { capacity: C, now: 0 }
  const due = new Map<number, Array<Deferred.Deferred<void>>>()
  let inFlight = 0
  yield* Effect.forkScoped(Effect.forever(Effect.andThen(
    Effect.sleep(Duration.millis(TICK)),
    Effect.suspend(() => {
      state.now += TICK
      const done = due.get(state.now) ?? []
      due.delete(state.now)
      inFlight -= done.length
      return Effect.forEach(done, (d) => Deferred.succeed(d, undefined), { discard: true })
    })
  )))
  const call = Effect.flatMap(Deferred.make<void>(), (deferred) =>
    Effect.suspend(() => {
      inFlight++
      const millis = BASE * Math.max(1, inFlight / state.capacity)
      const at = state.now + Math.ceil(millis / TICK) * TICK
      const list = due.get(at)
      if (list === undefined) due.set(at, [deferred])
      else list.push(deferred)
      return Deferred.await(deferred)
    }))
  return { state, call }
})

/** Runs 180 simulated seconds (C, then C/2, then C) and returns the limit read at each second. */
const simulate = (options: Omit<AdaptiveLimiter.Options, "name">) =>
  Effect.gen(function*() {
    const limiter = yield* AdaptiveLimiter.make({ name: "sim", maxWaitDuration: Duration.infinity, ...options })
    const { call, state } = yield* dependency
    const caller = Effect.forever(AdaptiveLimiter.withAdaptiveLimiter(call, limiter))
    yield* Effect.forEach(Array.from({ length: 2 * C }), () => Effect.forkScoped(caller), { discard: true })
    const limits: Array<number> = []
    for (let second = 1; second <= 180; second++) {
      state.capacity = second <= 60 ? C : second <= 120 ? C / 2 : C
      yield* TestClock.adjust("1 second")
      limits.push((yield* limiter.metrics).limit)
    }
    return { limits, metrics: yield* limiter.metrics }
  })

/** Every limit read in the last `seconds` of the phase ending at `end` is within 25% of `capacity`. */
const expectWithin = (limits: ReadonlyArray<number>, end: number, seconds: number, capacity: number) => {
  const tail = limits.slice(end - seconds, end)
  for (const limit of tail) {
    expect(limit).toBeGreaterThanOrEqual(capacity * 0.75)
    expect(limit).toBeLessThanOrEqual(capacity * 1.25)
  }
}

describe("AdaptiveLimiter convergence", () => {
  itScoped("gradient: within 25% of C by 60 s, follows C/2, recovers to C", () =>
    Effect.gen(function*() {
      const { limits, metrics } = yield* simulate({ algorithm: "gradient" })
      expectWithin(limits, 60, 11, C)
      expectWithin(limits, 120, 20, C / 2)
      expectWithin(limits, 180, 20, C)
      expect(metrics.noLoadLatencyMillis).toBeGreaterThanOrEqual(BASE)
      expect(metrics.noLoadLatencyMillis).toBeLessThan(BASE * 1.25)
      void TICK
    }))

  itScoped(
    "aimd (timeout just above the no-load latency): within 25% of C by 60 s, follows C/2, recovers",
    () =>
      Effect.gen(function*() {
        const { limits } = yield* simulate({ algorithm: "aimd", timeout: BASE * 1.1, backoffRatio: 0.95 })
        expectWithin(limits, 60, 11, C)
        expectWithin(limits, 120, 20, C / 2)
        expectWithin(limits, 180, 20, C)
      })
  )
})
