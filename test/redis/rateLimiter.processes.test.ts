/**
 * Four Node processes share one Redis-backed limiter of N permits per period for several periods: the
 * permits admitted in each period, by all of them together, never exceed N. Every admitted call is
 * checked: a call whose Redis-time bracket lies in one cycle counts there; one whose bracket straddles a
 * boundary (it was granted in one of the cycles it spans) must fit in one of them — the check assigns
 * those calls to cycles with room (earliest-deadline first, which finds an assignment whenever one
 * exists), so a failure means no reading of the brackets keeps every cycle within N. Real processes on the real
 * clock (Redis's), bounded: 4 periods of 400 ms after the children are up; about 3 s with start-up (the
 * child is compiled once with esbuild rather than run through tsx, whose start-up takes seconds on a
 * loaded machine).
 */
import { Redis } from "ioredis"
import { type ChildProcess, spawn } from "node:child_process"
import * as readline from "node:readline"
import { afterAll, describe, expect, it } from "vitest"
import { compiledFixture, root } from "../helpers/compiledFixture.js"
import { redisTarget } from "../helpers/redisServer.js"

const target = await redisTarget()
const compiled = compiledFixture("limiterChild", () => target._tag === "Available")

afterAll(async () => {
  if (target._tag === "Available") await target.stop()
})

interface Report {
  readonly admitted: ReadonlyArray<number>
  readonly straddling: ReadonlyArray<readonly [number, number]>
  readonly fallbacks: number
}

interface Child {
  readonly process: ChildProcess
  readonly ready: Promise<void>
  readonly report: Promise<Report>
}

const child = (settings: Record<string, unknown>): Child => {
  const process = spawn("node", [compiled, JSON.stringify(settings)], {
    cwd: root,
    stdio: ["pipe", "pipe", "inherit"]
  })
  const lines = readline.createInterface({ input: process.stdout! })
  let markReady: () => void
  const ready = new Promise<void>((resolve) => markReady = resolve)
  const report = new Promise<Report>((resolve, reject) => {
    lines.on("line", (line) => {
      if (line === "ready") markReady()
      else if (line.startsWith("{")) resolve(JSON.parse(line) as Report)
    })
    process.once("exit", (code) => reject(new Error(`limiter child exited with ${code} before reporting`)))
  })
  return { process, ready, report }
}

describe.skipIf(target._tag === "Unavailable")("RateLimiter across processes", () => {
  it("4 processes share N permits per period: never more than N admitted in any period", async () => {
    const url = target._tag === "Available" ? target.url : ""
    const limitForPeriod = 10
    const periodMillis = 400
    const cycles = 4
    const settings = { url, prefix: `procs${process.pid}`, name: "shared", limitForPeriod, periodMillis, cycles }
    const children = Array.from({ length: 4 }, () => child(settings))
    try {
      await Promise.all(children.map((c) => c.ready))
      const admin = new Redis(url)
      const [seconds, micros] = await admin.time()
      admin.disconnect()
      const now = Number(seconds) * 1000 + Number(micros) / 1000
      // Start at a cycle boundary a little ahead, so every child is looping when the first cycle begins.
      const startAt = (Math.floor(now / periodMillis) + 2) * periodMillis
      for (const c of children) c.process.stdin!.write(`${startAt}\n`)
      const reports = await Promise.all(children.map((c) => c.report))

      const first = startAt / periodMillis
      const perCycle = new Map<number, number>()
      for (const report of reports) {
        expect(report.fallbacks).toBe(0)
        for (const cycle of report.admitted) perCycle.set(cycle, (perCycle.get(cycle) ?? 0) + 1)
      }
      for (let k = first; k < first + cycles; k++) {
        const admitted = perCycle.get(k) ?? 0
        expect(admitted).toBeLessThanOrEqual(limitForPeriod)
        expect(admitted).toBeGreaterThan(0)
      }
      const straddlers = reports.flatMap((report) => report.straddling).sort((a, b) => a[1] - b[1])
      const assigned = new Map(perCycle)
      const unplaced: Array<readonly [number, number]> = []
      for (const [from, to] of straddlers) {
        let k = from
        while (k <= to && (assigned.get(k) ?? 0) >= limitForPeriod) k++
        if (k > to) unplaced.push([from, to])
        else assigned.set(k, (assigned.get(k) ?? 0) + 1)
      }
      expect(unplaced).toEqual([])
      const straddling = straddlers.length
      // The limit binds: the processes together ask for far more, and a full cycle gets exactly N.
      expect(Math.max(...perCycle.values())).toBe(limitForPeriod)
      expect([...perCycle.keys()].every((k) => k >= first && k < first + cycles)).toBe(true)
      const total = reports.reduce((sum, report) => sum + report.admitted.length + report.straddling.length, 0)
      expect(total).toBeLessThanOrEqual(limitForPeriod * cycles)
      // Each process got a share: the limit is the fleet's, not each instance's.
      expect(reports.filter((report) => report.admitted.length > 0).length).toBeGreaterThan(1)
      expect(straddling).toBeLessThanOrEqual(limitForPeriod * cycles)
    } finally {
      for (const c of children) c.process.kill()
    }
  }, 30_000)
})
