/**
 * The demo on real loopback HTTP (real sockets, real clock: a bounded ~2 x 10 s run), its
 * amplification figures asserted with generous bounds, and no fiber left running after them.
 */
import { Effect, Metric } from "effect"
import { describe, expect, it } from "vitest"
import * as Live from "../../demo/live.js"
import { amplification } from "../../demo/results.js"
import * as Scenario from "../../demo/scenario.js"

describe("live demo", () => {
  it("protected: at most 1.5x the offered load reaches the dependency; unprotected: at least 3x", async () => {
    const scenario = Scenario.make({ durationMillis: 10_000, rate: 30 })
    const activeFibers = () => Effect.runSync(Metric.value(Metric.fiberActive)).count
    const before = activeFibers()
    const results = await Effect.runPromise(
      Effect.scoped(Live.run({ scenario, modes: Scenario.modes, dashboard: false }))
    )
    const [unprotected, protectedRun] = results
    expect(amplification(unprotected!)).toBeGreaterThanOrEqual(3)
    expect(amplification(protectedRun!)).toBeLessThanOrEqual(1.5)
    expect(protectedRun!.outcomes.circuitOpen).toBeGreaterThan(0)
    // Every fiber of the runs ended with them, the servers' request handlers included.
    // A handler still waiting on the hanging dependency ends with its own timeout, later on a loaded machine.
    await expect.poll(activeFibers, { timeout: 15_000 }).toBeLessThanOrEqual(before)
  }, 60_000)
})
