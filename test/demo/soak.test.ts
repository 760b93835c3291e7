/**
 * The dashboard's memory stays bounded over a long run: the demo's protected run in virtual time for
 * one simulated hour (the engine of `npm run simulate`), with the dashboard `npm start` serves (its
 * history and long timeline kept, one document a second). Its encoded history stays under its byte
 * and frame bounds, its timeline under its point and byte bounds, and the heap after a full GC does not grow
 * from the first quarter of the hour to its end. The rate is low (one logical request every 10 s:
 * the run's cost grows with it); `SOAK_RATE` raises it.
 */
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { describe, expect, it } from "vitest"
import * as Scenario from "../../demo/scenario.js"
import { soak } from "../../demo/simulation.js"
import { DEFAULT_MAX_HISTORY_BYTES } from "../../src/dashboard/internal/dashboardConfig.js"

/** A full GC, without starting node with --expose-gc. */
const gc: () => void = (() => {
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc") as () => void
})()

/**
 * The timeline's encoded size at its 270 points, for the demo's guards (one breaker, one limiter,
 * one outbound target, one inbound policy): 102 KiB measured, about 390 bytes a point.
 */
const TIMELINE_BYTES = 128 * 1024

describe("dashboard memory over a simulated hour", () => {
  it("history, timeline and heap stay bounded", async () => {
    const rate = Number(process.env["SOAK_RATE"] ?? "0.1")
    const scenario = Scenario.make({ durationMillis: 3_600_000, rate, seed: 5 })
    const samples = await soak(scenario, 300_000, () => {
      gc()
      gc()
    })
    expect(samples[samples.length - 1]!.elapsedMillis).toBeGreaterThan(3_500_000) // the last arrival, near the hour
    for (const sample of samples) {
      expect(sample.historyFrames).toBeLessThanOrEqual(300)
      expect(sample.historyBytes).toBeLessThanOrEqual(DEFAULT_MAX_HISTORY_BYTES)
      // 2 minutes at full resolution, 15 minutes of 10 s buckets, an hour of 1 min buckets.
      expect(sample.timelinePoints).toBeLessThanOrEqual(120 + 90 + 60)
      expect(sample.timelineBytes).toBeLessThanOrEqual(TIMELINE_BYTES)
    }
    // Full: the frame bound reached long ago, the timeline's coarsest tier filled by the end.
    const last = samples[samples.length - 1]!
    expect(last.historyFrames === 300 || last.historyBytes > 0.9 * DEFAULT_MAX_HISTORY_BYTES).toBe(true)
    expect(samples[samples.length - 1]!.timelinePoints).toBeGreaterThan(200)
    const quarter = samples.find((s) => s.elapsedMillis >= 900_000)!
    const end = samples[samples.length - 1]!
    // Heap after a full GC: not growing with the run's length (a leak of one document a second would
    // add several MB over the last 45 minutes).
    expect(end.heapUsed - quarter.heapUsed).toBeLessThan(4 * 1024 * 1024)
  }, 120_000)
})
