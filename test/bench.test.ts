/**
 * The benchmark harness runs every case on a tiny configuration without crashing. No timing assertions:
 * figures belong in BENCHMARKS.md, never in a test.
 */
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { renderMarkdown } from "../bench/report.js"
import { allCases, runBench } from "../bench/run.js"
import type * as GuardCases from "../bench/targets/guardCases.js"
import type * as HttpCases from "../bench/targets/httpCases.js"
import type * as RedisCases from "../bench/targets/redisCases.js"

/**
 * The parts of the bench built once per Effect target, compiled as `npm run bench` compiles them
 * (bench/build.mjs, which compiles when imported): our guards, the HTTP section and our Redis side.
 */
const targetBuilds = async () => {
  const { targetOutfile } = await import("../bench/build.mjs")
  const load = <Build>(major: 3 | 4, name: "targets" | "http" | "redis") =>
    import(path.resolve(targetOutfile(major, name))) as Promise<Build>
  return Promise.all(([3, 4] as const).map(async (major) => ({
    guards: (await load<typeof GuardCases>(major, "targets")).targetCases(major),
    http: (await load<typeof HttpCases>(major, "http")).httpTarget(major),
    redis: (await load<typeof RedisCases>(major, "redis")).redisTarget(major)
  })))
}

describe("bench", () => {
  it("runs every case, scenario and report section on a tiny configuration", { timeout: 120_000 }, async () => {
    const builds = await targetBuilds()
    const targets = builds.flatMap((b) => b.guards.cases)
    const report = await runBench({
      targets,
      httpTargets: builds.map((b) => b.http),
      redisTargets: builds.map((b) => b.redis),
      rounds: 1,
      sliceMs: 0.5,
      contended: { fibers: 20, warmupMillis: 20, millis: 50 },
      memory: { keys: 200, windows: [10, 60], perWindow: 20 },
      redis: { millis: 20, rounds: 1, concurrency: 10, sample: 20 },
      coldImport: { rounds: 1 },
      http: { millis: 20, rounds: 1, concurrency: 4 }
    })
    for (const build of builds) build.guards.close()
    expect(report.results.map((r) => r.name)).toEqual(allCases(targets).map((c) => c.name))
    expect(targets.length).toBe(32)
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
    // A missed closed-path, bulkhead or stack target reads as its parts: the floor plus what any such guard
    // needs (clock reads, a mask, nested floors), then the guard's own work, on both builds for the breaker.
    expect(markdown).toMatch(
      /\| breaker closed, count window, success <= 1\.3x floor \| .*for two clock reads × .*for the breaker's own logic/
    )
    expect(markdown).toMatch(/\| Effect 4 build: breaker closed, time window, success <= .*for two clock reads × /)
    expect(markdown).toMatch(/cockatiel bulkhead.*for the mask that makes returning the permit safe × /)
    expect(markdown).toMatch(/full stack with metrics <= 2\.5x floor \| .*for four nested floors × /)
    // The issue's refusal and stack targets on the Effect 4 build too.
    expect(markdown).toMatch(/\| Effect 4 build: open-breaker refusal <= 1\.0x closed success \| [\d.]+x /)
    expect(markdown).toMatch(
      /\| Effect 4 build: full stack with metrics <= 2\.5x Effect 4 floor \| [\d.]+x .*four nested floors/
    )
    // Both builds measured: the side-by-side table has a row per case with figures for each target.
    expect(markdown).toMatch(/\| breaker closed, count window, success \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|/)
    expect(report.http._tag).toBe("Measured")
    if (report.http._tag === "Measured") {
      // Both builds of the HTTP cases, each every comparison in both modes, on its own Effect.
      expect(report.http.targets.map((t) => [t.effect, t._tag])).toEqual([[3, "Measured"], [4, "Measured"]])
      for (const target of report.http.targets) {
        if (target._tag !== "Measured") continue
        expect(target.rows.length).toBe(12)
        for (const row of target.rows) {
          expect(row.requestsPerSecond).toBeGreaterThan(0)
          // Paired rounds: every row carries the case's ratio to the plain case measured beside it.
          expect(row.plain.requestsPerSecond).toBeGreaterThan(0)
          expect(row.ratios.requestsPerSecond.median).toBeGreaterThan(0)
        }
        expect(target.rows.map((r) => r.comparison)).toContain("control")
      }
      expect(markdown).toMatch(/\| 4 \| ResilientHttpClient -> plain server \| sequential/)
      expect(markdown).toMatch(/\| Effect 4 build: HTTP: ResilientHttpClient call <= 1\.2x .* \| [\d.]+x /)
      expect(markdown).toMatch(
        /\| Effect 4 build: HTTP: server with RateLimitMiddleware >= 0\.95x .*\(4 in flight\) \| [\d.]+x /
      )
      expect(markdown).toMatch(
        /\| Effect 4 build: HTTP: server with RateLimitMiddleware >= 0\.95x .*\(1 in flight\) \| [\d.]+x /
      )
      expect(markdown).toMatch(
        /\| Effect 4 build: HTTP: server with RateLimitMiddleware applied to the app >= 0\.95x .*\(1 in flight\) \| [\d.]+x /
      )
      // The middleware's figure beside its parts: the platform's middleware slot, and the two header fields.
      expect(markdown).toMatch(
        /RateLimitMiddleware >= 0\.95x .*; a pass-through middleware [\d.]+x .*; the two RateLimit fields alone [\d.]+x/
      )
    }
    if (report.coldImport._tag === "Measured") {
      for (const row of report.coldImport.rows) expect(row.medianMillis).toBeGreaterThan(0)
    }
    if (report.redis._tag === "Measured") {
      for (const row of report.redis.rows) expect(row.acquiresPerSecond).toBeGreaterThan(0)
      // Four RedisStore limiters per Effect target, rate-limiter-flexible's two; six breaker rows per target.
      expect(report.redis.rows.map((r) => r.effect)).toEqual([3, 3, 3, 3, 4, 4, 4, 4, undefined, undefined])
      expect(report.redis.breakerRows.map((r) => r.effect)).toEqual([3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4])
      for (const row of report.redis.breakerRows) expect(row.callsPerSecond).toBeGreaterThan(0)
      expect(markdown).toMatch(/\| Effect 4 build: Redis: exactly 1 round trip per acquire \| [\d.]+ \/ /)
      expect(markdown).toMatch(
        /\| 4 \| shared breaker HalfOpen, trial call \(lease \+ record\), sequential \| [\d,]+ \| 2\.00 /
      )
      expect(markdown).toMatch(
        /\| Effect 4 build: Redis: re-read of the shared state .*: 1 round trip per call \| 1\.00 /
      )
    }
  })
})
