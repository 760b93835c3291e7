/**
 * The benchmark harness runs every case on a tiny configuration without crashing. No timing assertions:
 * figures belong in BENCHMARKS.md, never in a test.
 */
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { renderMarkdown } from "../bench/report.js"
import { allCases, runBench } from "../bench/run.js"
import type * as GuardCases from "../bench/targets/guardCases.js"

/** Both target builds of our guards, compiled as `npm run bench` compiles them (bench/build.mjs). */
const targetBuilds = async () => {
  const { targetOutfile } = await import("../bench/build.mjs")
  return Promise.all(([3, 4] as const).map(async (major) => {
    const build = await import(path.resolve(targetOutfile(major))) as typeof GuardCases
    return build.targetCases(major)
  }))
}

describe("bench", () => {
  it("runs every case, scenario and report section on a tiny configuration", { timeout: 120_000 }, async () => {
    const builds = await targetBuilds()
    const targets = builds.flatMap((b) => b.cases)
    const report = await runBench({
      targets,
      rounds: 1,
      sliceMs: 0.5,
      contended: { fibers: 20, warmupMillis: 20, millis: 50 },
      memory: { keys: 200, windows: [10, 60], perWindow: 20 },
      redis: { millis: 20, rounds: 1, concurrency: 10, sample: 20 },
      coldImport: { rounds: 1 },
      http: { millis: 20, rounds: 1, concurrency: 4 }
    })
    for (const build of builds) build.close()
    expect(report.results.map((r) => r.name)).toEqual(allCases(targets).map((c) => c.name))
    expect(targets.length).toBe(26)
    for (const result of report.results) expect(result.nsPerOp).toBeGreaterThan(0)
    expect(report.contended.length).toBeGreaterThan(0)
    for (const row of report.contended) expect(row.grantsPerSecond).toBeGreaterThan(0)
    expect(report.memory.keyed.length).toBe(8)
    expect(report.memory.timeWindows.length).toBe(2)
    const markdown = renderMarkdown(report, "## Notes")
    expect(markdown).toContain("## Main table")
    expect(markdown).toContain("## Targets: where we stand")
    expect(markdown).toContain("## 9. Redis")
    expect(markdown).toContain("## 10. Cold import")
    expect(markdown).toContain("## 11. HTTP on loopback")
    // Both builds measured: the side-by-side table has a row per case with figures for each target.
    expect(markdown).toMatch(/\| breaker closed, count window, success \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|/)
    expect(report.http._tag).toBe("Measured")
    if (report.http._tag === "Measured") {
      expect(report.http.rows.length).toBe(6)
      for (const row of report.http.rows) {
        expect(row.requestsPerSecond).toBeGreaterThan(0)
        // Paired rounds: every row carries the case's ratio to the plain case measured beside it.
        expect(row.plain.requestsPerSecond).toBeGreaterThan(0)
        expect(row.ratios.requestsPerSecond.median).toBeGreaterThan(0)
      }
      expect(report.http.rows.map((r) => r.comparison)).toContain("control")
    }
    if (report.coldImport._tag === "Measured") {
      for (const row of report.coldImport.rows) expect(row.medianMillis).toBeGreaterThan(0)
    }
    if (report.redis._tag === "Measured") {
      for (const row of report.redis.rows) expect(row.acquiresPerSecond).toBeGreaterThan(0)
      expect(report.redis.breakerRows.length).toBe(6)
      for (const row of report.redis.breakerRows) expect(row.callsPerSecond).toBeGreaterThan(0)
    }
  })
})
