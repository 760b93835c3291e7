/**
 * `npm run simulate -- --effect 4`: the command re-runs itself in a child process on Effect 4
 * (targets/effect4's Node 22, its resolution hooks, tsx) and prints the same table as on Effect 3. Real
 * child processes, bounded by a timeout; virtual time inside, so no real clock is measured.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { runCommand, tableOf } from "./runCommand.js"

const rows = [
  "offered requests (clients)",
  "attempts at my server",
  "requests that reached the dependency",
  "amplification (dependency / offered)",
  "refused fast: circuit open",
  "refused fast: rate limited",
  "refused fast: pool exhausted",
  "refused fast: bulkhead full",
  "failed: dependency error",
  "failed: timeout",
  "clients served",
  "latency p50 (clients, retries included)",
  "latency p99",
  "dependency overloaded after it recovered"
]

describe("npm run simulate -- --effect 4", () => {
  it("runs on Effect 4 in a child process and prints every row of the table, as Effect 3 does", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "breakwater-simulate-"))
    try {
      const [on4, on3] = await Promise.all([
        runCommand("simulate", ["--duration", "10", "--effect", "4", "--out", path.join(dir, "4.html")], 90_000),
        runCommand("simulate", ["--duration", "10", "--out", path.join(dir, "3.html")], 90_000)
      ])
      expect(on4.stderr).toBe("")
      expect(on4.code).toBe(0)
      expect(on3.code).toBe(0)
      // The banner names the Effect that ran.
      expect(on4.stdout).toMatch(/^breakwater simulation \(virtual time, seed 7\) on Effect 4\.\d+\.\d+: /)
      expect(on3.stdout).toMatch(/^breakwater simulation \(virtual time, seed 7\) on Effect 3\.\d+\.\d+: /)
      const table4 = tableOf(on4.stdout)
      const table3 = tableOf(on3.stdout)
      expect([...table4.keys()]).toEqual(rows)
      expect([...table3.keys()]).toEqual(rows)
      for (const cells of table4.values()) expect(cells).toHaveLength(2)
      // The arrivals follow the scenario's schedule on both; the seeded draws differ (each Effect has its
      // own generator), so the other figures are compared by their bounds, as in simulation.test.ts.
      expect(table4.get("offered requests (clients)")).toEqual(table3.get("offered requests (clients)"))
      const [unprotected, protectedRun] = table4.get("amplification (dependency / offered)")!.map(parseFloat)
      expect(unprotected).toBeGreaterThanOrEqual(3)
      expect(protectedRun).toBeLessThanOrEqual(1.5)
      expect(Number(table4.get("refused fast: circuit open")![1])).toBeGreaterThan(0)
      expect(fs.readFileSync(path.join(dir, "4.html"), "utf8")).toContain("<html")
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)

  it("the Effect 4 child's exit code is the command's", async () => {
    // The child runs, then cannot write its report (a file stands where its folder should be): exit 1.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "breakwater-simulate-"))
    try {
      fs.writeFileSync(path.join(dir, "file"), "")
      const run = await runCommand("simulate", [
        "--duration",
        "1",
        "--effect",
        "4",
        "--out",
        path.join(dir, "file", "r.html")
      ], 90_000)
      expect(run.stdout).toBe("")
      expect(run.stderr).toContain("EEXIST: file already exists, mkdir")
      expect(run.code).toBe(1)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)

  it("a bad --effect is refused before anything runs, naming the flag and the value", async () => {
    const run = await runCommand("simulate", ["--effect", "5"], 60_000)
    expect(run.code).toBe(1)
    expect(run.stdout).toBe("")
    expect(run.stderr).toContain("--effect must be 3 or 4, got \"5\"")
  }, 90_000)
})
