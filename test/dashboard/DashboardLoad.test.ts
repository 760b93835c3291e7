/**
 * Issue 15, item 7: the dashboard's cost does not grow with its viewers. Real loopback sockets and the
 * real clock (bounded: each test runs a few seconds): 1,000 guards, 2,000 connections to the event
 * stream, readers that never read. Memory is measured, not time, except the health probe's latency,
 * which is the figure the issue names.
 */
import { callback } from "#port"
import { itScoped, TestClock } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as net from "node:net"
import * as Dashboard from "../../src/dashboard/Dashboard.js"
import * as Registry from "../../src/registry/Registry.js"
import { request, serveDashboard } from "./http.js"

interface Viewer {
  readonly status: number
  readonly socket: net.Socket
  /** Bytes received so far (status line and headers included). */
  readonly received: () => number
}

/** Opens the event stream on a raw socket; `read: false` stops reading after the first bytes. */
const openEvents = (port: number, read = true) =>
  callback<Viewer, Error>((resume) => {
    const socket = net.connect(port, "127.0.0.1")
    let received = 0
    let answered = false
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length
      if (answered) return
      answered = true
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(chunk.toString("latin1"))?.[1] ?? 0)
      if (!read) socket.pause() // never reads again: the kernel buffers fill, then the server's writes wait
      resume(Effect.succeed({ status, socket, received: () => received }))
    })
    socket.on("error", (error) => answered ? undefined : resume(Effect.fail(error)))
    socket.write("GET /breakwater/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
  })

const closeAll = (viewers: ReadonlyArray<Viewer>) =>
  Effect.sync(() => viewers.forEach((viewer) => viewer.socket.destroy()))

/** A registry of `n` breakers named like HTTP targets. */
const guards = (n: number) =>
  Effect.gen(function*() {
    const registry = yield* Registry.make()
    for (let i = 0; i < n; i++) yield* registry.circuitBreaker(`target-${i}.example.com`)
    return registry
  })

const healthLatency = (port: number) =>
  Effect.gen(function*() {
    const started = performance.now() // real clock: the latency the issue measures
    const answer = yield* request(port, "/breakwater/health")
    expect(answer.status).toBe(200)
    return performance.now() - started
  })

const rssMiB = () => process.memoryUsage().rss / 1024 / 1024 // real process: the figure the issue measures

/**
 * Connections opened against the event stream: the 2,000 by default; `DASHBOARD_CONNECTIONS`
 * changes it (at least 21: the 20 the cap serves and one refused).
 */
const connections = Math.max(21, Number(process.env.DASHBOARD_CONNECTIONS ?? 2000) || 2000)

/** Batch sizes opening `n` connections: the 20 the cap serves first, then batches of at most 500. */
const batches = (n: number) => {
  const sizes = [20]
  for (let left = n - 20; left > 0; left -= 500) sizes.push(Math.min(500, left))
  return sizes
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

describe("Dashboard load", () => {
  it.live(
    `1,000 guards, ${connections} connections: 20 viewers served, the rest 503, one document per interval, /health median under 100 ms, RSS growth under 200 MiB`,
    () =>
      Effect.scoped(Effect.gen(function*() {
        const registry = yield* guards(1000)
        let computed = 0
        const { port } = yield* serveDashboard(registry, {
          interval: "1 second",
          title: Effect.sync(() => (computed++, "load")) // read once per document computed
        })
        const rssBefore = rssMiB()
        const viewers: Array<Viewer> = []
        yield* Effect.addFinalizer(() => closeAll(viewers))
        // As many as the cap allows, then refused ones, opened concurrently in batches.
        const opening = performance.now() // real clock: how long opening takes, for the log
        for (const size of batches(connections)) {
          viewers.push(
            ...yield* Effect.forEach(Array.from({ length: size }), () => openEvents(port), { concurrency: size })
          )
        }
        const statuses = viewers.map((viewer) => viewer.status)
        expect(statuses.filter((s) => s === 200).length).toBe(20)
        expect(statuses.filter((s) => s === 503).length).toBe(connections - 20)
        const opened = performance.now() - opening

        const computedBefore = computed
        const latencies: Array<number> = []
        const started = performance.now() // real clock: one second of the viewers' stream
        while (performance.now() - started < 2000) {
          latencies.push(yield* healthLatency(port))
          yield* Effect.sleep("50 millis")
        }
        const elapsed = performance.now() - started
        // One computation per interval, not one per viewer (20 viewers would make 20 a second).
        expect(computed - computedBefore).toBeLessThanOrEqual(Math.ceil(elapsed / 1000) + 1)
        const served = viewers.filter((viewer) => viewer.status === 200)
        expect(Math.min(...served.map((viewer) => viewer.received()))).toBeGreaterThan(800_000) // all got documents
        // The bound on the median, with the 2,000 connections held open (measured on 2 cores at load
        // 3-4: median 20-30 ms, p95 45-96 ms, slowest 107-148 ms; before the shared document, 20 s timeouts).
        // The slowest probe gets 2 s for a CI machine shared by many test files.
        const sorted = [...latencies].sort((a, b) => a - b)
        const grown = rssMiB() - rssBefore
        console.log(
          `1,000 guards, ${connections} connections (opened in ${opened.toFixed(0)} ms, ` +
            `${statuses.filter((s) => s === 503).length} refused): /health median ` +
            `${percentile(sorted, 0.5).toFixed(0)} ms, p95 ${percentile(sorted, 0.95).toFixed(0)} ms, ` +
            `max ${sorted[sorted.length - 1]!.toFixed(0)} ms over ${sorted.length} probes; ` +
            `${computed - computedBefore} documents in ${elapsed.toFixed(0)} ms; RSS +${grown.toFixed(0)} MiB`
        )
        expect(percentile(sorted, 0.5)).toBeLessThan(100)
        expect(sorted[sorted.length - 1]).toBeLessThan(2000)
        // Sockets, their buffers and the 20 viewers' shared frames; a document or a history copy per
        // connection would be gigabytes at 2,000.
        expect(grown).toBeLessThan(200)

        // Viewers leaving free their places.
        yield* closeAll(served)
        yield* Effect.sleep("50 millis")
        const again = yield* openEvents(port)
        viewers.push(again)
        expect(again.status).toBe(200)
      })),
    60_000
  )

  it.live(
    "300 readers that never read: memory bounded by the shared history, and live readers keep receiving",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const registry = yield* guards(50)
        const { dashboard, port } = yield* serveDashboard(registry, {
          interval: "10 millis",
          maxViewers: 301
        })
        const kept = Effect.map(dashboard.history, (documents) =>
          documents.length < 300 ? JSON.stringify(documents).length : Infinity)
        while ((yield* kept) < 3.5 * 1024 * 1024) { // the history fills (300 documents or 4 MiB)
          yield* Effect.sleep("100 millis") // real clock: documents taken every 10 ms
        }
        expect(JSON.stringify(yield* dashboard.history).length).toBeLessThanOrEqual(4 * 1024 * 1024)
        const rssBefore = rssMiB()
        const stalled: Array<Viewer> = []
        yield* Effect.addFinalizer(() =>
          closeAll(stalled)
        )
        for (let batch = 0; batch < 3; batch++) {
          stalled.push(
            ...yield* Effect.forEach(Array.from({ length: 100 }), () => openEvents(port, false), { concurrency: 100 })
          )
        }
        expect(stalled.every((viewer) => viewer.status === 200)).toBe(true)
        const live = yield* openEvents(port)
        stalled.push(live)
        yield* Effect.sleep("1 second") // real clock: 100 more documents offered to each stalled reader
        const grown = rssMiB() - rssBefore
        console.log(`300 stalled readers, a 4 MiB history each: RSS +${grown.toFixed(0)} MiB`)
        // A copy of the history per reader, as before, would be 300 x 4 MiB = 1.2 GB and more per document
        // offered. What remains is per connection (sockets, fibers, garbage not yet collected): measured
        // +27 to +140 MiB.
        expect(grown).toBeLessThan(250)
        const before = live.received()
        yield* Effect.sleep("200 millis")
        expect(live.received()).toBeGreaterThan(before)
      })),
    60_000
  )

  itScoped("without history, nothing is computed while nobody watches", () =>
    Effect.gen(function*() {
      let computed = 0
      const dashboard = yield* Dashboard.make({ history: 0, title: Effect.sync(() => (computed++, "idle")) })
      yield* TestClock.adjust("1 minute")
      expect(computed).toBe(0)
      expect(yield* dashboard.viewers).toBe(0)
      expect(yield* dashboard.history).toEqual([])
    }))
})
