/**
 * Separate Node processes (test/redis/fixtures/breakerChild.ts) sharing one breaker through Redis, with
 * their traffic counted by a real local HTTP server. Real clock and real processes: bounded by the
 * children's start-up (about a second each, started in parallel) plus a few round trips.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import * as readline from "node:readline"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
// The children run against the same Effect as this file (tsx, and on Effect 4 its resolution hooks).
import { targetMajor, tsxNodeArgs } from "#test-port"
import { redisTarget } from "../helpers/redisServer.js"

const target = await redisTarget()
const available = target._tag === "Available"
const fixture = path.join(import.meta.dirname, "fixtures", "breakerChild.ts")
// Unique per run: a REDIS_URL server may keep an earlier run's keys (their TTL is an hour).
const prefix = `procs-${process.pid}-${Date.now()}`

/** A dependency that always fails (HTTP 500) and counts every request it receives. */
let hits = 0
let server: http.Server | undefined
let sick = ""

beforeAll(async () => {
  if (!available) return
  server = http.createServer((_request, response) => {
    hits++
    response.statusCode = 500
    response.end("sick")
  })
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve))
  sick = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
})

afterAll(async () => {
  await new Promise((resolve) => server === undefined ? resolve(undefined) : server.close(resolve))
  if (target._tag === "Available") await target.stop()
})

interface Message {
  readonly event: string
  readonly at: number
  readonly state?: string
  readonly before?: string
  readonly refused?: boolean
  readonly rtt?: number
  readonly effect?: number
}

/** A child instance: its messages in order, and a way to wait for the next one matching a predicate. */
const start = (name: string, waitMillis: number) => {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...tsxNodeArgs,
      fixture,
      JSON.stringify({
        url: target._tag === "Available" ? target.url : "",
        prefix,
        name,
        waitMillis
      })
    ],
    { stdio: ["pipe", "pipe", "inherit"] }
  )
  const messages: Array<Message> = []
  const waiters: Array<() => void> = []
  readline.createInterface({ input: child.stdout! }).on("line", (line) => {
    messages.push(JSON.parse(line) as Message)
    for (const wake of waiters.splice(0)) wake()
  })
  const next = async (predicate: (m: Message) => boolean, from = 0): Promise<Message> => {
    for (;;) {
      const found = messages.slice(from).find(predicate)
      if (found !== undefined) return found
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve))
  return {
    messages,
    next,
    send: (line: string) => child.stdin!.write(`${line}\n`),
    exited,
    kill: () => child.kill("SIGKILL")
  }
}

describe.skipIf(!available)("one breaker shared by processes", () => {
  it("RESTART: a process started while the shared circuit is open refuses at once, sending no traffic", async () => {
    const name = "restart"
    const first = start(name, 10_000)
    await first.next((m) => m.event === "ready")
    first.send(`trip ${sick}`)
    await first.next((m) => m.event === "tripped")
    first.send("exit")
    expect(await first.exited).toBe(0)
    const trafficBeforeRestart = hits
    expect(trafficBeforeRestart).toBe(4)

    const second = start(name, 10_000)
    const ready = await second.next((m) => m.event === "ready")
    expect(ready.effect).toBe(targetMajor)
    expect(ready.state).toBe("Open")
    second.send(`call ${sick}`)
    const call = await second.next((m) => m.event === "call")
    expect(call.refused).toBe(true)
    expect(hits).toBe(trafficBeforeRestart)
    second.send("exit")
    expect(await second.exited).toBe(0)
  })

  it("MULTI-PROCESS: one of 4 processes trips the breaker; the other 3 refuse within one round trip", async () => {
    const name = "fleet"
    const fleet = [0, 1, 2, 3].map(() => start(name, 10_000))
    try {
      const ready = await Promise.all(fleet.map((p) => p.next((m) => m.event === "ready" && m.state === "Closed")))
      expect(ready.map((m) => m.effect)).toEqual([targetMajor, targetMajor, targetMajor, targetMajor])
      const roundTrip = Math.max(...ready.map((m) => m.rtt!))
      const [tripper, ...others] = fleet
      const trafficBefore = hits
      const seen = others.map((p) => p.messages.length)
      tripper!.send(`trip ${sick}`)
      const tripped = await tripper!.next((m) => m.event === "tripped")
      const opened = await Promise.all(
        others.map((p, i) => p.next((m) => m.event === "state" && m.state === "Open", seen[i]))
      )
      // The change is published by the script that trips the circuit, so it reaches the others about when
      // the tripper's own reply reaches it: within one round trip of the tripper's report (measured with
      // PING by each process), plus slack for 4 processes' event loops and stdout pipes sharing 2 busy
      // cores (this is a real-clock test: the whole suite runs beside it).
      const lags = opened.map((m) => m.at - tripped.at)
      console.info(
        `[multi-process breaker] the other processes saw Open ${lags.join(", ")} ms after the tripper reported ` +
          `(round trip ${roundTrip.toFixed(2)} ms)`
      )
      for (const lag of lags) expect(lag).toBeLessThanOrEqual(roundTrip + 250)
      // Having heard it, they refuse without a round trip of their own: no traffic beyond the tripper's 4.
      for (const p of others) p.send(`call ${sick}`)
      const calls = await Promise.all(others.map((p, i) => p.next((m) => m.event === "call", seen[i])))
      expect(calls.map((c) => [c.before, c.refused])).toEqual([["Open", true], ["Open", true], ["Open", true]])
      expect(hits - trafficBefore).toBe(4)
      for (const p of fleet) p.send("exit")
      expect(await Promise.all(fleet.map((p) => p.exited))).toEqual([0, 0, 0, 0])
    } finally {
      for (const p of fleet) p.kill()
    }
  })
})
