/**
 * The demo's scenario in virtual time: the amplification figures with generous bounds, and the same
 * seed giving the same bytes.
 */
import { describe, expect, it } from "vitest"
import { amplification } from "../../demo/results.js"
import * as Scenario from "../../demo/scenario.js"
import { simulate } from "../../demo/simulation.js"

const scenario = Scenario.make({ durationMillis: 15_000, rate: 15, seed: 3 })

describe("simulation", () => {
  it("protected: at most 1.5x the offered load reaches the dependency; unprotected: at least 3x", async () => {
    const { results } = await simulate(scenario)
    const [unprotected, protectedRun] = results
    expect(unprotected!.mode).toBe("unprotected")
    expect(amplification(unprotected!)).toBeGreaterThanOrEqual(3)
    expect(amplification(protectedRun!)).toBeLessThanOrEqual(1.5)
    expect(unprotected!.overloadAfterRecovery.millis).toBeGreaterThan(0)
    expect(protectedRun!.overloadAfterRecovery.millis).toBe(0)
    expect(protectedRun!.outcomes.circuitOpen).toBeGreaterThan(0)
  })

  it("under Effect's TestClock: the same bounds, and the same counts as the discrete-event clock", async () => {
    // TestClock waits for a real timer at each wake-up: a short run (~8 s of the test's time).
    const short = Scenario.make({ durationMillis: 8_000, rate: 5, seed: 7 })
    const underTestClock = await simulate(short, "test")
    const [unprotected, protectedRun] = underTestClock.results
    expect(amplification(unprotected!)).toBeGreaterThanOrEqual(3)
    expect(amplification(protectedRun!)).toBeLessThanOrEqual(1.5)
    expect(protectedRun!.outcomes.circuitOpen).toBeGreaterThan(0)
    expect(underTestClock.text).toContain("(TestClock, seed 7)")
    const counts = (run: (typeof underTestClock.results)[number]) => ({
      offered: run.clients.offered,
      attempts: run.clients.attempts,
      succeeded: run.clients.succeeded,
      received: run.received,
      dependencyArrivals: run.dependencyArrivals,
      outcomes: run.outcomes
    })
    const virtual = await simulate(short)
    expect(underTestClock.results.map(counts)).toEqual(virtual.results.map(counts))
  }, 30_000)

  it("is byte-identical for the same seed, table and report", async () => {
    const small = Scenario.make({ durationMillis: 8_000, rate: 10, seed: 11 })
    const first = await simulate(small)
    const second = await simulate(small)
    expect(second.text).toBe(first.text)
    expect(second.html).toBe(first.html)
    expect(first.html).toContain("<!doctype html>")
    expect(first.html).not.toMatch(/<script src=|<link rel="stylesheet" href=/) // self-contained
    const other = await simulate({ ...small, seed: 12 })
    expect(other.text).not.toBe(first.text)
  })
})
