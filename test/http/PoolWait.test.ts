/**
 * A timeout spent waiting for a connection is the pool's, not the dependency's, on real sockets: a
 * server that accepts and stalls, an undici pool of one connection held by another request, and a
 * guarded call whose attempt timeout runs out while it is still queued in the pool. That call fails
 * with `PoolExhaustedError` (with `waitedMillis`) and counts as a pool wait; a call that got the
 * connection and then waited on the stalled server is a timeout. "Why calls failed" counts each once,
 * under its own cause, although the attempt's time limiter counted both as timeouts.
 */
import { callback } from "#port"
import { HttpClient } from "#port/httpClient"
import { makeAgent, undiciClientLayer } from "#port/nodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as http from "node:http"
import * as Dashboard from "../../src/dashboard/Dashboard.js"
import * as ResilientHttpClient from "../../src/http/ResilientHttpClient.js"
import * as Metrics from "../../src/observability/Metrics.js"
import * as Prometheus from "../../src/observability/Prometheus.js"
import * as Registry from "../../src/registry/Registry.js"
import { undiciLoads } from "./dependency.js"

const Live = Prometheus.layer().pipe(Layer.provideMerge(Metrics.layer()), Layer.provideMerge(Registry.layer()))

/** A server that holds every request until `release()` answers those held so far. */
const stalling = Effect.acquireRelease(
  callback<{ readonly url: string; readonly release: () => void; readonly server: http.Server }>((resume) => {
    const held: Array<http.ServerResponse> = []
    const server = http.createServer((_request, response) => void held.push(response))
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      resume(Effect.succeed({
        url: `http://127.0.0.1:${port}`,
        server,
        release: () => {
          for (const response of held.splice(0)) response.end("ok")
        }
      }))
    })
  }),
  ({ server }) =>
    callback<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
)

const agentOf = (connections: number) => makeAgent({ connections })

describe("pool wait", () => {
  // real clock: real sockets; attempt timeouts of 300 ms, the waits below for undici to connect.
  // Skipped where undici 8 cannot load (Effect 4 under Node < 22.19, see `undiciLoads`).
  it.live.skipIf(!undiciLoads)(
    "a timeout while queued for a connection is 'pool exhausted'; after getting one, 'timeout'",
    () =>
      Effect.gen(function*() {
        const dependency = yield* stalling
        const agent = yield* agentOf(1)
        const resilience = yield* ResilientHttpClient.make({
          name: "wait-test",
          dispatcher: agent,
          retry: false,
          circuitBreaker: false,
          attemptTimeout: "300 millis",
          totalTimeout: "5 seconds"
        })
        const base = Context.get(yield* Layer.build(undiciClientLayer(agent)), HttpClient.HttpClient)
        const client = ResilientHttpClient.wrap(base, resilience)
        const get = (path: string) =>
          Effect.flip(Effect.scoped(Effect.flatMap(client.get(dependency.url + path), (r) => r.text)))

        // Another request, unguarded, takes the pool's only connection and holds it.
        const holder = agent.request({ origin: dependency.url, path: "/holder", method: "GET" })
        const pool = () => Effect.map(resilience.snapshot, (s) => s.pools[0])
        for (let i = 0; i < 200; i++) {
          const p = yield* pool()
          if (p !== undefined && p.busy === 1 && p.running === 1) break
          yield* Effect.sleep("10 millis")
        }
        expect(yield* pool()).toMatchObject({ busy: 1, free: 0 })

        const refused = ResilientHttpClient.refusal(yield* get("/queued"))
        expect(refused._tag === "Some" && refused.value._tag).toBe("PoolExhaustedError")
        if (refused._tag === "Some" && refused.value._tag === "PoolExhaustedError") {
          expect(refused.value.waitedMillis).toBeGreaterThanOrEqual(250)
          expect(refused.value.connections).toBe(1)
          expect(refused.value.message).toContain("waited")
        }

        // The holder answered: the connection is free; the next call gets it and waits on the server.
        dependency.release()
        yield* Effect.promise(() => holder.then((response) => response.body.text()))
        const timedOut = ResilientHttpClient.refusal(yield* get("/slow"))
        expect(timedOut._tag === "Some" && timedOut.value._tag).toBe("TimeoutExceededError")

        const target = (yield* resilience.snapshot).targets[0]!
        expect(target.failures).toMatchObject({ poolWait: 1, timeout: 1 })
        expect(target.refusals.poolExhausted).toBe(0)
        // The attempt's time limiter counted both; the dashboard's breakdown counts each once.
        const dashboard = yield* Dashboard.make({ guards: resilience.guards, http: Effect.succeed([resilience]) })
        const document = yield* dashboard.document
        const attempt = document.guards.find((g) => g.name === `wait-test:${target.target}:attempt`)!
        expect(attempt.metrics["timeoutsTotal"]).toBe(2)
        expect(document.failures).toMatchObject({ timeout: 1, poolExhausted: 1, dependencyError: 0 })
        const text = yield* Prometheus.scrape
        expect(text).toMatch(
          /breakwater_http_client_failures_total\{client="wait-test",target="[^"]+",reason="pool_wait"\} 1/
        )
        expect(text).toMatch(
          /breakwater_http_client_failures_total\{client="wait-test",target="[^"]+",reason="timeout"\} 1/
        )
        dependency.release()
      }).pipe(Effect.scoped, Effect.provide(Live)),
    20_000
  )
})
