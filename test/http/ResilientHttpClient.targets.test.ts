/**
 * The target table under hostile upstreams and host floods (issue 15, item 10), on real loopback
 * sockets through the real undici client. Distinct hosts reach one local server through an undici
 * `connect.lookup` that resolves every name to 127.0.0.1, so the client keys them as distinct hosts.
 * REAL clock, no waits beyond the calls themselves. A new origin costs undici ~50 ms on a loaded
 * 2-core machine, so the flood is 100 hosts (20 times the table), not the 100,000.
 */
import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpClient, Undici } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import type { LookupFunction } from "node:net"
import * as ResilientHttpClient from "../../src/http/ResilientHttpClient.js"
import { serve } from "./servers.js"

/** Every host name resolves to 127.0.0.1. */
const loopback: LookupFunction = (_hostname, options, callback) => {
  if (options.all === true) callback(null, [{ address: "127.0.0.1", family: 4 }])
  else (callback as (error: null, address: string, family: number) => void)(null, "127.0.0.1", 4)
}

const clientWith = (options: ResilientHttpClient.Options) =>
  Effect.gen(function*() {
    const resilience = yield* ResilientHttpClient.make(options)
    const agent = yield* Effect.acquireRelease(
      Effect.sync(() => new Undici.Agent({ connect: { lookup: loopback } })),
      (agent) => Effect.promise(() => agent.destroy())
    )
    return { resilience, client: ResilientHttpClient.wrap(NodeHttpClient.makeUndici(agent), resilience) }
  })

const outcome = <E, R>(call: Effect.Effect<{ readonly status: number }, E, R>) =>
  Effect.map(Effect.either(call), (r) => r._tag === "Right" ? r.right.status : (r.left as { _tag: string })._tag)

describe("ResilientHttpClient targets (real sockets)", () => {
  it.scopedLive("a hostile 503 with Retry-After pauses only its own host, even with the table full", () =>
    Effect.gen(function*() {
      const ok = yield* serve(HttpServerResponse.text("ok"))
      const hostile = yield* serve(
        HttpServerResponse.text("go away", { status: 503, headers: { "retry-after": "10" } })
      )
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
    }))

  it.scopedLive("100 distinct hosts, half failing, through 5 targets: no healthy host is ever refused", () =>
    Effect.gen(function*() {
      // Hosts h<odd>.test fail with 500, h<even>.test answer 200; every answer closes its connection.
      const url = yield* serve(Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
        const n = Number(/^h(\d+)\./.exec(request.headers.host ?? "")?.[1] ?? 0)
        return HttpServerResponse.text(n % 2 === 1 ? "boom" : "ok", {
          status: n % 2 === 1 ? 500 : 200,
          headers: { connection: "close" }
        })
      }))
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
    }))

  it.scopedLive("when every target has a call in flight, a new host's call gets one-call guards", () =>
    Effect.gen(function*() {
      const release = yield* Deferred.make<void>()
      const slow = yield* serve(Effect.as(Deferred.await(release), HttpServerResponse.text("late")))
      const fast = yield* serve(HttpServerResponse.text("ok"))
      const { client, resilience } = yield* clientWith({ name: "busy", maxTargets: 1, retry: false })
      const pending = yield* Effect.fork(outcome(client.get(`${slow}/`)))
      yield* Effect.sleep("50 millis") // the slow call holds the only target
      expect(yield* outcome(client.get(`${fast}/`))).toBe(200)
      const during = yield* resilience.snapshot
      expect(during.oneCallTargets).toBe(1)
      expect(during.targets.map((t) => t.target)).toEqual([new URL(slow).host])
      yield* Deferred.succeed(release, undefined)
      expect(yield* Fiber.join(pending)).toBe(200)
      // Now idle, the slow host's target makes room for the next new host.
      expect(yield* outcome(client.get(`${fast}/again`))).toBe(200)
      expect(yield* resilience.targets).toEqual([new URL(fast).host])
    }))

  it.scopedLive("a flood of distinct hosts cannot evict an open breaker or a Retry-After pause", () =>
    Effect.gen(function*() {
      // sick.test fails with 500, paused.test answers 503 Retry-After: 30, every other host 200.
      const hits = { sick: 0, paused: 0 }
      const url = yield* serve(Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
        const host = request.headers.host ?? ""
        if (host.startsWith("sick.")) {
          hits.sick++
          return HttpServerResponse.text("boom", { status: 500 })
        }
        if (host.startsWith("paused.")) {
          hits.paused++
          return HttpServerResponse.text("later", { status: 503, headers: { "retry-after": "30" } })
        }
        return HttpServerResponse.text("ok", { headers: { connection: "close" } })
      }))
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
    }))
})
