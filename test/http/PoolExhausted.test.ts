/**
 * "Pool exhausted" as a cause of its own, on real sockets: a dependency that accepts connections and
 * stalls, an undici pool of 2 connections (`poolConnections` taken from the agent's options),
 * `poolQueueLimit: 1`. Two calls take the connections, one waits in undici's queue, the next is
 * refused with `PoolExhaustedError` before the network; the breaker sees no failure; the snapshot,
 * the health report and the Prometheus series name the cause.
 */
import { callback, forkChild } from "#port"
import { HttpClient, HttpClientResponse } from "#port/httpClient"
import { itScoped, yieldNow } from "#test-port"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer } from "effect"
import * as http from "node:http"
import * as NodeResilientHttpClient from "../../src/http/NodeResilientHttpClient.js"
import * as ResilientHttpClient from "../../src/http/ResilientHttpClient.js"
import * as Health from "../../src/observability/Health.js"
import * as Metrics from "../../src/observability/Metrics.js"
import * as Prometheus from "../../src/observability/Prometheus.js"
import * as Snapshot from "../../src/observability/Snapshot.js"
import * as Registry from "../../src/registry/Registry.js"
import { undiciLoads } from "./dependency.js"

/** A server that holds every request until `release()`, then answers 200. */
const stalling = Effect.acquireRelease(
  callback<
    { readonly url: string; readonly release: () => void; readonly seen: () => number; server: http.Server }
  >(
    (resume) => {
      const held: Array<http.ServerResponse> = []
      let seen = 0
      let released = false
      const server = http.createServer((_request, response) => {
        seen++
        if (released) response.end("ok")
        else held.push(response)
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number }
        resume(Effect.succeed({
          url: `http://127.0.0.1:${port}`,
          server,
          seen: () => seen,
          release: () => {
            released = true
            for (const response of held.splice(0)) response.end("ok")
          }
        }))
      })
    }
  ),
  ({ server }) =>
    callback<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
)

/** A call's status, or its error's tag. */
const outcome = <E>(call: Effect.Effect<{ readonly status: number }, E>) =>
  Effect.match(call, {
    onSuccess: (response): number | string => response.status,
    onFailure: (error) => (error as { _tag: string })._tag
  })

const Live = Prometheus.layer().pipe(Layer.provideMerge(Metrics.layer()), Layer.provideMerge(Registry.layer()))

describe("pool exhausted", () => {
  // real clock: real sockets; the waits below are for undici to open connections and queue requests.
  // Skipped where undici 8 cannot load (Effect 4 under Node < 22.19, see `undiciLoads`).
  it.live.skipIf(!undiciLoads)(
    "refuses past poolQueueLimit with PoolExhaustedError, unseen by the breaker, named everywhere",
    () =>
      Effect.gen(function*() {
        const dependency = yield* stalling
        const client = NodeResilientHttpClient.layer({
          name: "pool-test",
          poolQueueLimit: 1,
          retry: false,
          attemptTimeout: "20 seconds",
          totalTimeout: "20 seconds",
          poolMetricsInterval: "20 millis"
        }, { connections: 2 })
        yield* Effect.gen(function*() {
          const http = yield* HttpClient.HttpClient
          const resilience = yield* ResilientHttpClient.ResilientHttpClient
          const get = Effect.scoped(Effect.flatMap(http.get(`${dependency.url}/work`), (r) => r.text))
          const held = yield* Effect.forEach([1, 2, 3], () => forkChild(get))
          // Until undici has both connections busy and the third request in its queue.
          const pool = () => Effect.map(resilience.snapshot, (s) => s.pools[0])
          for (let i = 0; i < 200; i++) {
            const p = yield* pool()
            if (p !== undefined && p.busy === 2 && p.queued === 1 && dependency.seen() === 2) break
            yield* Effect.sleep("10 millis")
          }
          expect(yield* pool()).toMatchObject({ busy: 2, free: 0, queued: 1 })

          const cause = ResilientHttpClient.refusal(yield* Effect.flip(get))
          expect(cause._tag === "Some" && cause.value._tag).toBe("PoolExhaustedError")
          if (cause._tag === "Some" && cause.value._tag === "PoolExhaustedError") {
            expect(cause.value).toMatchObject({ client: "pool-test", inFlight: 3, connections: 2, queueLimit: 1 })
            expect(cause.value.message).toContain("is exhausted")
          }
          expect(dependency.seen()).toBe(2) // never sent

          // While exhausted: the edge says so, and health is DEGRADED for it (the breaker is not Open).
          const snapshot = yield* Snapshot.ofGuards(yield* resilience.guards, [resilience])
          const edge = snapshot.http!.outbound[0]!
          expect(edge).toMatchObject({ client: "pool-test", status: "DEGRADED", circuitState: "Closed" })
          expect(edge.pressures).toContain("pool-exhausted")
          expect(edge.refusals["poolExhausted"]).toBe(1)
          expect(edge.pool).toMatchObject({ busy: 2, free: 0, queued: 1 })
          const health = yield* Health.ofGuards(yield* resilience.guards, [resilience])
          expect(health.status).toBe("DEGRADED")
          expect(health.components[`httpClient:pool-test:${edge.target}`]).toMatchObject({
            kind: "HttpClientTarget",
            status: "DEGRADED"
          })
          expect(Snapshot.toJson(snapshot)).toContain("\"poolExhausted\":1")

          // The breaker saw no failure: the refused call never reached it.
          const breaker = (yield* resilience.guards).find((g) => g.kind === "CircuitBreaker")!
          const breakerView = snapshot.guards.find((g) => g.name === breaker.name)!
          expect(breakerView.metrics["failedCallsTotal"]).toBe(0)
          expect(breakerView.metrics["notPermittedCallsTotal"]).toBe(0)

          // Released: the held calls succeed, the pool drains, calls are admitted again.
          dependency.release()
          for (const fiber of held) expect(yield* Fiber.join(fiber)).toBe("ok")
          expect(yield* get).toBe("ok")
          const after = yield* resilience.snapshot
          expect(after.targets[0]!.refusals.poolExhausted).toBe(1)
          expect(after.targets[0]!.responses["200"]).toBe(4)
          expect(after.targets[0]!.latencyMillis.samples).toBe(4)
          expect(after.targets[0]!.latencyMillis.p99).toBeGreaterThan(0)
          const text = yield* Prometheus.scrape
          expect(text).toMatch(
            /breakwater_http_client_refusals_total\{client="pool-test",target="[^"]+",reason="pool_exhausted"\} 1/
          )
        }).pipe(Effect.provide(client))
      }).pipe(Effect.scoped, Effect.provide(Live)),
    20_000
  )

  it.effect("poolQueueLimit must be a whole number of at least 1, and needs poolConnections", () =>
    Effect.gen(function*() {
      const make = (options: Partial<ResilientHttpClient.Options>) =>
        Effect.flip(Effect.scoped(ResilientHttpClient.make({ name: "bad-pool", ...options })))
      const zero = yield* make({ poolQueueLimit: 0, poolConnections: 2 })
      expect(zero._tag).toBe("InvalidConfigError")
      expect(zero.message).toContain("poolQueueLimit")
      const alone = yield* make({ poolQueueLimit: 1 })
      expect(alone.message).toContain("requires poolConnections")
      const noPool = yield* make({ poolQueueLimit: 1, poolConnections: 0 })
      expect(noPool.message).toContain("poolConnections")
    }))

  itScoped(
    "counts calls in flight per origin: a burst arriving at once is admitted only up to the bound",
    () =>
      Effect.gen(function*() {
        // An in-process dependency that never answers until released: the burst is admitted at once.
        const release = yield* Deferred.make<void>()
        const held = HttpClient.make((request) =>
          Effect.as(Deferred.await(release), HttpClientResponse.fromWeb(request, new Response("ok")))
        )
        const resilience = yield* ResilientHttpClient.make({
          name: "burst",
          poolConnections: 2,
          poolQueueLimit: 2,
          retry: false
        })
        const client = ResilientHttpClient.wrap(held, resilience)
        const calls = yield* Effect.forEach(
          Array.from({ length: 7 }, (_, i) => i < 6 ? "http://a.test/x" : "http://b.test/x"),
          // Forked one after the other (all before any answer): on Effect 4 a fiber forked inside a
          // concurrent `forEach`'s worker is interrupted when that worker ends.
          (url) => forkChild(outcome(client.get(url)))
        )
        yield* yieldNow
        yield* Deferred.succeed(release, undefined)
        const outcomes = yield* Effect.forEach(calls, Fiber.join)
        const refused = outcomes.filter((o) => o === "PoolExhaustedError")
        // 4 admitted to a.test (2 connections + 2 waiting), 2 refused; b.test has a pool of its own.
        expect(refused.length).toBe(2)
        expect(outcomes[6]).toBe(200)
        // Released as the calls end: admitted again.
        expect(yield* outcome(client.get("http://a.test/x"))).toBe(200)
        const snapshot = yield* resilience.snapshot
        expect(snapshot.targets.find((t) => t.target === "a.test")!.refusals.poolExhausted).toBe(2)
      })
  )
})
