/**
 * The retry storm: three nested retrying layers (3 attempts each) in front of a dependency that
 * always fails. Without budgets the dependency receives 3^3 = 27 calls per offered request; with a
 * `RetryBudget` at each layer, each layer adds at most `percentCanRetry` of what it receives plus
 * its `minRetriesPerSecond` floor, so the load is at most about 1.2^3 ≈ 1.73x plus the floors.
 *
 * Offered load: one request every `INTERVAL` ms of simulated time, each in its own fiber; `TestClock`
 * drives every arrival and every wait.
 */
import { forkChild } from "#port"
import { TestClock } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Data, Duration, Effect, Fiber } from "effect"
import { cumulativeBound, SLICES } from "../src/core/retryBudgetCore.js"
import * as Retry from "../src/guards/Retry.js"
import * as RetryBudget from "../src/guards/RetryBudget.js"

class Unavailable extends Data.TaggedError("Unavailable")<{ readonly status: number }> {}

const LAYERS = 3
const MAX_ATTEMPTS = 3
/** Finagle's defaults, which are also `RetryBudget`'s. */
const BUDGET = { ttlMillis: 10_000, minRetriesPerSecond: 10, percentCanRetry: 0.2 } as const

interface Load {
  /** `perTick` requests arrive every `tick` ms, `ticks` times (the first at time 0). */
  readonly ticks: number
  readonly tick: number
  readonly perTick: number
  readonly budgets: boolean
  /** The wait between attempts at every layer. */
  readonly waitMillis: number
  /**
   * Each request in its own fiber, all in flight together (slow under TestClock: every sleep is
   * one step of the clock), or one after another in the test's fiber (needs `waitMillis` 0).
   */
  readonly concurrent: boolean
}

/** Builds the stack, offers the load, and counts the dependency's calls. */
const storm = (load: Load) =>
  Effect.scoped(Effect.gen(function*() {
    let calls = 0
    const dependency = Effect.suspend(() => {
      calls++
      return Effect.fail(new Unavailable({ status: 503 }))
    })
    const budgets: Array<RetryBudget.RetryBudget> = []
    let guarded: Effect.Effect<never, Unavailable | Retry.MaxRetriesExceededError> = dependency
    // Innermost first: layer 3 calls the dependency, layer 1 receives the offered load.
    for (let layer = LAYERS; layer >= 1; layer--) {
      const budget = load.budgets
        ? yield* RetryBudget.make({
          name: `layer-${layer}`,
          ttl: Duration.millis(BUDGET.ttlMillis),
          minRetriesPerSecond: BUDGET.minRetriesPerSecond,
          percentCanRetry: BUDGET.percentCanRetry
        })
        : undefined
      if (budget !== undefined) budgets.unshift(budget)
      const retry = yield* Retry.make({
        name: `layer-${layer}`,
        maxAttempts: MAX_ATTEMPTS,
        waitDuration: Duration.millis(load.waitMillis),
        ...(budget === undefined ? {} : { budget })
      })
      guarded = Retry.withRetry(guarded, retry)
    }
    const arrivals = Array.from({ length: load.ticks }, (_, i) => i * load.tick)
    let failures = 0
    if (load.concurrent) {
      const fibers = yield* Effect.forEach(arrivals, (at) =>
        forkChild(Effect.andThen(
          Effect.sleep(Duration.millis(at)),
          Effect.forEach(Array.from({ length: load.perTick }), () => Effect.exit(guarded), { concurrency: "unbounded" })
        )))
      // Long enough for every request's retries at every layer to finish.
      yield* TestClock.adjust(Duration.millis(arrivals.at(-1)! + longestRequestMillis(load.waitMillis) + 1))
      const exits = (yield* Fiber.joinAll(fibers)).flat()
      failures = exits.filter((exit) => exit._tag === "Failure").length
    } else {
      for (const at of arrivals) {
        yield* TestClock.setTime(at)
        for (let i = 0; i < load.perTick; i++) {
          if ((yield* Effect.exit(guarded))._tag === "Failure") failures++
        }
      }
    }
    const requests = load.ticks * load.perTick
    expect(failures).toBe(requests)
    const budgetMetrics = yield* Effect.forEach(budgets, (budget) => budget.metrics)
    return { calls, budgetMetrics, requests, lastArrival: arrivals.at(-1)! }
  }))

/** The longest a request can take through the stack: each layer runs its inner stack up to 3 times. */
const longestRequestMillis = (waitMillis: number) =>
  Array.from({ length: LAYERS }).reduce<number>((inner) => MAX_ATTEMPTS * inner + (MAX_ATTEMPTS - 1) * waitMillis, 0)

/** What a layer may send on, given what it receives, if its last retry falls in slice `lastSlice`. */
const layerBound = (received: number, lastSlice: number) => received + cumulativeBound(BUDGET, lastSlice, received)

/** Checks each layer against the budget's bound and returns the bound the configuration alone gives. */
const checkLayers = (
  requests: number,
  budgetMetrics: ReadonlyArray<RetryBudget.Metrics>,
  lastSlice: number
): number => {
  let bound = requests
  for (let layer = 0; layer < LAYERS; layer++) {
    const { totalDeposits: received, totalWithdrawals: retries } = budgetMetrics[layer]!
    // What a layer receives is what the layer above sent on: its calls and its retries.
    const above = budgetMetrics[layer - 1]
    expect(received).toBe(above === undefined ? requests : above.totalDeposits + above.totalWithdrawals)
    expect(received + retries).toBeLessThanOrEqual(layerBound(received, lastSlice))
    bound = layerBound(bound, lastSlice)
  }
  return bound
}

describe("retry storm", () => {
  it.effect("without budgets, three layers of 3 attempts send 27x the offered load", () =>
    Effect.gen(function*() {
      const { calls, requests } = yield* storm({
        ticks: 10,
        tick: 50,
        perTick: 2,
        budgets: false,
        waitMillis: 100,
        concurrent: true
      })
      expect(calls).toBe(MAX_ATTEMPTS ** LAYERS * requests)
      expect(calls / requests).toBe(27)
    }))

  it.effect("with a budget per layer, within one ttl: at most 1.2^3 of the load plus the floors", () =>
    Effect.gen(function*() {
      // 1,000 requests over 9 s: everything happens within the budgets' first ttl, so nothing expires
      // and each layer may retry at most ⌊minRetriesPerSecond × ttl + 20% × received⌋ times.
      const { budgetMetrics, calls, lastArrival, requests } = yield* storm({
        ticks: 100,
        tick: 90,
        perTick: 10,
        budgets: true,
        waitMillis: 0,
        concurrent: false
      })
      expect(lastArrival).toBeLessThan(BUDGET.ttlMillis)
      const bound = checkLayers(requests, budgetMetrics, Math.floor(lastArrival * SLICES / BUDGET.ttlMillis))
      const last = budgetMetrics[LAYERS - 1]!
      expect(calls).toBe(last.totalDeposits + last.totalWithdrawals)

      // The bound from the configuration alone: 1000 → 1000 + ⌊100 + 200⌋ = 1300 → 1660 → 2092.
      expect(bound).toBe(2092)
      const floor = BUDGET.minRetriesPerSecond * BUDGET.ttlMillis / 1000
      expect(bound).toBeLessThanOrEqual(1.2 ** 3 * requests + floor * (1 + 1.2 + 1.2 ** 2) + 1e-6)
      expect(calls).toBeLessThanOrEqual(bound)
      expect(calls / requests).toBeLessThanOrEqual(2.092) // against 27 without budgets
      // Not vacuous: every layer spent its budget and was refused.
      for (const metrics of budgetMetrics) expect(metrics.refusals).toBeGreaterThan(0)
    }))

  it.effect("with a budget per layer, requests in flight together and waits between attempts", () =>
    Effect.gen(function*() {
      // 200 requests over 6 s, 100 ms between attempts: all done before the first ttl ends.
      const { budgetMetrics, calls, lastArrival, requests } = yield* storm({
        ticks: 100,
        tick: 60,
        perTick: 2,
        budgets: true,
        waitMillis: 100,
        concurrent: true
      })
      const end = lastArrival + longestRequestMillis(100)
      expect(end).toBeLessThan(BUDGET.ttlMillis * (SLICES - 1) / SLICES)
      const bound = checkLayers(requests, budgetMetrics, Math.floor(end * SLICES / BUDGET.ttlMillis))
      // 200 → 200 + ⌊100 + 40⌋ = 340 → 340 + ⌊100 + 68⌋ = 508 → 508 + ⌊100 + 101.6⌋ = 709.
      expect(bound).toBe(709)
      expect(calls).toBeLessThanOrEqual(bound)
      expect(calls / requests).toBeLessThan(27)
    }))

  it.effect("with a budget per layer, over a minute of steady load: one floor per ttl turn", () =>
    Effect.gen(function*() {
      // 50 requests per second for 60 s: six turns of the budgets' ttl. Each layer may retry at most
      // one reserve per started turn plus 20% of all it received (see retryBudgetCore's guarantees).
      const { budgetMetrics, calls, lastArrival, requests } = yield* storm({
        ticks: 600,
        tick: 100,
        perTick: 5,
        budgets: true,
        waitMillis: 0,
        concurrent: false
      })
      const lastSlice = Math.floor(lastArrival * SLICES / BUDGET.ttlMillis)
      const bound = checkLayers(requests, budgetMetrics, lastSlice)
      const turns = Math.floor(lastSlice / SLICES) + 1
      expect(turns).toBe(6)
      const floors = turns * BUDGET.minRetriesPerSecond * BUDGET.ttlMillis / 1000
      expect(bound).toBeLessThanOrEqual(1.2 ** 3 * requests + floors * (1 + 1.2 + 1.2 ** 2) + 1e-6)
      expect(calls).toBeLessThanOrEqual(bound)
      expect(calls / requests).toBeLessThan(2.5) // against 27 without budgets
    }))
})
