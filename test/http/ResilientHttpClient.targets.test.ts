/**
 * The target table under hostile upstreams and host floods (issue 15, item 10), on real loopback
 * sockets through the real undici client. Distinct hosts reach one local server through an undici
 * `connect.lookup` that resolves every name to 127.0.0.1, so the client keys them as distinct hosts.
 * REAL clock, no waits beyond the calls themselves. A new origin costs undici ~50 ms on a loaded
 * 2-core machine, so the flood is 100 hosts (20 times the table), not the 100,000.
 */
import { forkChild } from "#port"
import { HttpClient } from "#port/httpClient"
import { makeAgent, undiciClientLayer } from "#port/nodeHttpClient"
import { itScopedLive } from "#test-port"
import { describe, expect } from "@effect/vitest"
import { Context, Effect, Fiber, Layer } from "effect"
import type * as http from "node:http"
import type { LookupFunction } from "node:net"
import * as ResilientHttpClient from "../../src/http/ResilientHttpClient.js"
import { serveNode, undiciLoads } from "./dependency.js"

/** Every host name resolves to 127.0.0.1. */
const loopback: LookupFunction = (_hostname, options, callback) => {
  if (options.all === true) callback(null, [{ address: "127.0.0.1", family: 4 }])
  else (callback as (error: null, address: string, family: number) => void)(null, "127.0.0.1", 4)
}

const clientWith = (options: ResilientHttpClient.Options) =>
  Effect.gen(function*() {
    const resilience = yield* ResilientHttpClient.make(options)
    const agent = yield* makeAgent({ connect: { lookup: loopback } })
    const base = Context.get(yield* Layer.build(undiciClientLayer(agent)), HttpClient.HttpClient)
    return { resilience, client: ResilientHttpClient.wrap(base, resilience) }
  })

const outcome = <E, R>(call: Effect.Effect<{ readonly status: number }, E, R>) =>
  Effect.match(call, {
    onSuccess: (response): number | string => response.status,
    onFailure: (error) => (error as { _tag: string })._tag
  })

/** Answers `status` with the text `body` (and `headers`). */
const reply = (
  response: http.ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {}
) => {
  response.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(body), ...headers })
  response.end(body)
}

/** A server answering every request with `status` and `body`. */
const text = (body: string, status = 200, headers: Record<string, string> = {}) =>
  serveNode((request, response) => {
    request.resume()
    reply(response, status, body, headers)
  })

// These build an undici Agent with a lookup of their own: skipped where undici 8 cannot load (Effect 4
// under Node < 22.19, see `undiciLoads`).
describe.skipIf(!undiciLoads)("ResilientHttpClient targets (real sockets)", () => {
  itScopedLive(
    "a hostile 503 with Retry-After pauses only its own host, even with the table full",
    () =>
      Effect.gen(function*() {
        const ok = yield* text("ok")
        const hostile = yield* text("go away", 503, { "retry-after": "10" })
        const { client, resilience } = yield* clientWith({ name: "hostile", maxTargets: 2, retry: false })
        // Two other hosts fill the table.
        expect(yield* outcome(client.get(`http://filler-1.test:${new URL(ok).port}/`))).toBe(200)
        expect(yield* outcome(client.get(`http://filler-2.test:${new URL(ok).port}/`))).toBe(200)
        expect(yield* outcome(client.get(`${hostile}/`))).toBe(503)
        expect(yield* outcome(client.get(`${hostile}/`))).toBe("RequestNotPermittedError") // its own pause
        // An innocent host is served: it gets its own target, not the paused one.
        expect(yield* outcome(client.get(`${ok}/`))).toBe(200)
        const snapshot = yield* resilience.snapshot
        expect(snapshot.targets.map((t) => t.target)).toEqual([new URL(hostile).host, new URL(ok).host])
        expect(snapshot.targets.find((t) => t.target === new URL(ok).host)!.pausedFor._tag).toBe("None")
      })
  )

  itScopedLive(
    "100 distinct hosts, half failing, through 5 targets: no healthy host is ever refused",
    () =>
      Effect.gen(function*() {
        // Hosts h<odd>.test fail with 500, h<even>.test answer 200; every answer closes its connection.
        const url = yield* serveNode((request, response) => {
          request.resume()
          const n = Number(/^h(\d+)\./.exec(request.headers.host ?? "")?.[1] ?? 0)
          reply(response, n % 2 === 1 ? 500 : 200, n % 2 === 1 ? "boom" : "ok", { connection: "close" })
        })
        const port = new URL(url).port
        const { client, resilience } = yield* clientWith({
          name: "flood",
          maxTargets: 5,
          retry: false,
          circuitBreaker: { slidingWindowSize: 5, minimumNumberOfCalls: 5, waitDurationInOpenState: "1 minute" }
        })
        const hosts = Array.from({ length: 100 }, (_, i) => i)
        const results = yield* Effect.forEach(
          hosts,
          (i) => Effect.map(outcome(client.get(`http://h${i}.test:${port}/`)), (result) => [i, result] as const),
          { concurrency: 10 }
        )
        const healthy = results.filter(([i]) => i % 2 === 0).map(([, result]) => result)
        expect(healthy.filter((r) => r !== 200)).toEqual([]) // 50 of 50 served
        expect(results.filter(([i]) => i % 2 === 1).every(([, result]) => result === 500)).toBe(true)
        const snapshot = yield* resilience.snapshot
        expect(snapshot.targets.length).toBeLessThanOrEqual(5)
        expect(snapshot.targets.every((t) => t.refusals.circuitOpen === 0 && t.refusals.paused === 0)).toBe(true)
      })
  )

  itScopedLive(
    "when every target has a call in flight, a new host's call gets one-call guards",
    () =>
      Effect.gen(function*() {
        let release = () => {}
        const released = new Promise<void>((resolve) => {
          release = resolve
        })
        const slow = yield* serveNode((request, response) => {
          request.resume()
          void released.then(() => reply(response, 200, "late"))
        })
        const fast = yield* text("ok")
        const { client, resilience } = yield* clientWith({ name: "busy", maxTargets: 1, retry: false })
        const pending = yield* forkChild(outcome(client.get(`${slow}/`)))
        yield* Effect.sleep("50 millis") // the slow call holds the only target
        expect(yield* outcome(client.get(`${fast}/`))).toBe(200)
        const during = yield* resilience.snapshot
        expect(during.oneCallTargets).toBe(1)
        expect(during.targets.map((t) => t.target)).toEqual([new URL(slow).host])
        release()
        expect(yield* Fiber.join(pending)).toBe(200)
        // Now idle, the slow host's target makes room for the next new host.
        expect(yield* outcome(client.get(`${fast}/again`))).toBe(200)
        expect(yield* resilience.targets).toEqual([new URL(fast).host])
      })
  )

  itScopedLive(
    "a flood of distinct hosts cannot evict an open breaker or a Retry-After pause",
    () =>
      Effect.gen(function*() {
        // sick.test fails with 500, paused.test answers 503 Retry-After: 30, every other host 200.
        const hits = { sick: 0, paused: 0 }
        const url = yield* serveNode((request, response) => {
          request.resume()
          const host = request.headers.host ?? ""
          if (host.startsWith("sick.")) {
            hits.sick++
            return reply(response, 500, "boom")
          }
          if (host.startsWith("paused.")) {
            hits.paused++
            return reply(response, 503, "later", { "retry-after": "30" })
          }
          return reply(response, 200, "ok", { connection: "close" })
        })
        const port = new URL(url).port
        const { client, resilience } = yield* clientWith({
          name: "pinned",
          maxTargets: 4,
          retry: false,
          circuitBreaker: { slidingWindowSize: 2, minimumNumberOfCalls: 2, waitDurationInOpenState: "1 minute" }
        })
        const sick = `http://sick.test:${port}/`
        const paused = `http://paused.test:${port}/`
        expect([yield* outcome(client.get(sick)), yield* outcome(client.get(sick))]).toEqual([500, 500])
        expect(yield* outcome(client.get(sick))).toBe("CallNotPermittedError") // open
        expect(yield* outcome(client.get(paused))).toBe(503)
        expect(yield* outcome(client.get(paused))).toBe("RequestNotPermittedError") // paused
        // 40 other hosts through the 2 remaining targets (the old table evicted sick and paused first).
        const flood = yield* Effect.forEach(
          Array.from({ length: 40 }, (_, i) => i),
          (i) => outcome(client.get(`http://h${i}.test:${port}/`)),
          { concurrency: 4 }
        )
        expect(flood.filter((r) => r !== 200)).toEqual([]) // every healthy host served
        // The sick and paused hosts kept their state: refused fast, nothing sent to them.
        expect(yield* outcome(client.get(sick))).toBe("CallNotPermittedError")
        expect(yield* outcome(client.get(paused))).toBe("RequestNotPermittedError")
        expect(hits).toEqual({ sick: 2, paused: 1 })
        const snapshot = yield* resilience.snapshot
        expect(snapshot.targets.length).toBeLessThanOrEqual(4)
        expect(snapshot.targets.map((t) => t.target)).toEqual(
          expect.arrayContaining([`sick.test:${port}`, `paused.test:${port}`])
        )
      })
  )
})
