/**
 * Four Node processes (test/redis/fixtures/clusterChild.ts) share two limiters and a breaker through a
 * RedisStore on a real local Redis Cluster (test/helpers/redisCluster.ts), each guard on a different
 * master: in every period the processes together never get more than N permits of either limiter (the
 * same bracket check as rateLimiter.processes.test.ts), and a breaker tripped by one process is seen
 * Open by the other three over sharded pub/sub, without a call of theirs.
 *
 * real clock: real processes on Redis's clock; 4 periods of 400 ms after the children are up (compiled
 * once with esbuild: tsx's start-up takes seconds on a loaded machine).
 */
import { Cluster } from "ioredis"
import { type ChildProcess, spawn } from "node:child_process"
import { createRequire } from "node:module"
import * as readline from "node:readline"
import { afterAll, describe, expect, it } from "vitest"
import { hashTagOf } from "../../src/redis/internal/RedisConnection.js"
import { compiledFixture, root } from "../helpers/compiledFixture.js"
import { clusterTarget } from "../helpers/redisCluster.js"

const slotOf = createRequire(import.meta.url)("cluster-key-slot") as (key: string) => number
const target = await clusterTarget()
const compiled = compiledFixture("clusterChild", () => target._tag === "Available")

afterAll(async () => {
  if (target._tag === "Available") await target.cluster.stop()
})

interface Report {
  readonly admitted: ReadonlyArray<ReadonlyArray<number>>
  readonly straddling: ReadonlyArray<ReadonlyArray<readonly [number, number]>>
  readonly fallbacks: number
}

const child = (settings: Record<string, unknown>) => {
  const process = spawn("node", [compiled, JSON.stringify(settings)], { cwd: root, stdio: ["pipe", "pipe", "inherit"] })
  const lines = readline.createInterface({ input: process.stdout! })
  let markReady: () => void
  let markOpen: () => void
  const ready = new Promise<void>((resolve) => markReady = resolve)
  const open = new Promise<void>((resolve) => markOpen = resolve)
  const report = new Promise<Report>((resolve, reject) => {
    lines.on("line", (line) => {
      if (line === "\"ready\"") return markReady()
      if (!line.startsWith("{")) return console.log(`cluster child: ${line}`)
      const message = JSON.parse(line) as { readonly event?: string; readonly state?: string }
      if (message.event === "state") {
        if (message.state === "Open") markOpen()
      } else resolve(message as unknown as Report)
    })
    process.once("exit", (code) => reject(new Error(`cluster child exited with ${code} before reporting`)))
  })
  report.catch(() => {})
  return {
    process: process as ChildProcess,
    ready,
    open,
    report,
    send: (line: string) => process.stdin!.write(`${line}\n`)
  }
}

/** Per cycle, at most `limit` admitted, straddling calls placed (earliest deadline first) where room is left. */
const overfull = (reports: ReadonlyArray<Report>, index: number, limit: number) => {
  const perCycle = new Map<number, number>()
  for (const report of reports) {
    for (const cycle of report.admitted[index]!) perCycle.set(cycle, (perCycle.get(cycle) ?? 0) + 1)
  }
  const over = [...perCycle.entries()].filter(([, n]) => n > limit)
  const unplaced: Array<readonly [number, number]> = []
  for (const [from, to] of reports.flatMap((r) => r.straddling[index]!).sort((a, b) => a[1] - b[1])) {
    let k = from
    while (k <= to && (perCycle.get(k) ?? 0) >= limit) k++
    if (k > to) unplaced.push([from, to])
    else perCycle.set(k, (perCycle.get(k) ?? 0) + 1)
  }
  return { over, unplaced, max: Math.max(0, ...perCycle.values()), perCycle }
}

describe.skipIf(target._tag === "Unavailable")("guards across processes on a Redis Cluster", () => {
  it(
    "4 processes share two limiters and a breaker on three masters: never more than N per period, one trip seen by all",
    async () => {
      const cluster = target._tag === "Available" ? target.cluster : undefined!
      // One guard per master.
      const owners = [await cluster.masterOf(0), await cluster.masterOf(5461), await cluster.masterOf(10923)]
      const names: Array<string> = []
      for (const owner of owners) {
        for (let i = 0;; i++) {
          const name = `shared${i}`
          if (!names.includes(name) && (await cluster.masterOf(slotOf(hashTagOf(name)))) === owner) {
            names.push(name)
            break
          }
        }
      }
      const limitForPeriod = 10
      const periodMillis = 400
      const cycles = 4
      const settings = {
        nodes: cluster.startupNodes,
        prefix: `clprocs${process.pid}`,
        limiters: names.slice(0, 2),
        breaker: names[2],
        limitForPeriod,
        periodMillis,
        cycles
      }
      const children = Array.from({ length: 4 }, () => child(settings))
      const admin = new Cluster([...cluster.startupNodes])
      try {
        await Promise.all(children.map((c) => c.ready))
        const [seconds, micros] = await admin.time()
        const now = Number(seconds) * 1000 + Number(micros) / 1000
        const startAt = (Math.floor(now / periodMillis) + 2) * periodMillis
        for (const c of children) c.send(String(startAt))
        const reports = await Promise.all(children.map((c) => c.report))
        for (const report of reports) expect(report.fallbacks).toBe(0)
        for (const index of [0, 1]) {
          const { max, over, perCycle, unplaced } = overfull(reports, index, limitForPeriod)
          expect(over).toEqual([])
          expect(unplaced).toEqual([])
          // The limit binds (the processes ask for far more), it is the fleet's (several processes got permits).
          expect(max).toBe(limitForPeriod)
          expect([...perCycle.values()].reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(limitForPeriod * (cycles + 1))
          expect(reports.filter((r) => r.admitted[index]!.length > 0).length).toBeGreaterThan(1)
        }
        // One process trips the breaker; the others see it Open without calling.
        children[0]!.send("trip")
        const seen = await Promise.race([
          Promise.all(children.map((c) => c.open)).then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5_000))
        ])
        expect(seen).toBe(true)
        for (const c of children) c.send("exit")
        await Promise.all(
          children.map((c) =>
            new Promise((resolve) => c.process.exitCode !== null ? resolve(undefined) : c.process.once("exit", resolve))
          )
        )
      } finally {
        admin.disconnect()
        for (const c of children) c.process.kill()
      }
    },
    30_000
  )
})
