/**
 * `npm start -- --effect 4`: the live demo (real loopback sockets, real clock, the dashboard served) in a
 * child process on Effect 4, a bounded 2 x 6 s run. In the timing group: it measures real time.
 */
import { describe, expect, it } from "vitest"
import { runCommand, tableOf } from "./runCommand.js"

describe("npm start -- --effect 4", () => {
  it("runs the live demo on Effect 4 with its dashboard, and prints the table", async () => {
    let snapshot: Promise<{ readonly status: number; readonly title: unknown }> | undefined
    const run = await runCommand("start", ["--duration", "6", "--effect", "4"], 150_000, (stdout) => {
      const url = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/breakwater)/.exec(stdout)?.[1]
      if (url === undefined || snapshot !== undefined) return
      snapshot = fetch(`${url}/snapshot`).then(async (response) => ({
        status: response.status,
        title: ((await response.json()) as { readonly title?: unknown }).title
      }))
    })
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^breakwater demo \(Effect 4\.\d+\.\d+\): /)
    // The dashboard answered during the runs, from the Effect 4 process.
    expect(snapshot).toBeDefined()
    const answered = await snapshot!
    expect(answered.status).toBe(200)
    expect(String(answered.title)).toMatch(/^breakwater demo/)
    const table = tableOf(run.stdout)
    expect(table.size).toBe(14)
    const [unprotected, protectedRun] = table.get("amplification (dependency / offered)")!.map(parseFloat)
    // Generous bounds (a 6 s run on a loaded machine; live.test.ts holds 3x over 10 s on Effect 3).
    expect(unprotected).toBeGreaterThanOrEqual(2)
    expect(protectedRun).toBeLessThanOrEqual(1.5)
  }, 180_000)
})
