/**
 * The inbound middleware on a real `@effect/platform-node` server (127.0.0.1, ephemeral port), called
 * through the real undici client and, for hostile bytes no client library would send, a raw socket.
 * These tests use the REAL clock: every wait is tens of milliseconds.
 */
// Runs on both Effect targets: the HTTP types come from "#port/httpServer", servers and clients from
// "#test-port/http" (an `HttpRouter` value on Effect 3, a routes Layer on Effect 4).
import { callback } from "#port"
import { HttpServerResponse, routes, ServerRequest } from "#port/httpServer"
import { itScoped, itScopedLive } from "#test-port"
import { counterValue, realClient, requestFromWeb, serve, serveRoutes } from "#test-port/http"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as net from "node:net"
import * as RateLimitMiddleware from "../../src/http/RateLimitMiddleware.js"

// A response is an Effect on Effect 3, not on Effect 4: handlers are written as Effects for both.
const hello = Effect.succeed(HttpServerResponse.text("hello"))

/** Sends raw bytes and returns the status line's code. */
const rawRequest = (port: number, bytes: Buffer) =>
  callback<number>((resume) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.end(bytes))
    let data = ""
    socket.on("data", (chunk) => (data += chunk.toString("latin1")))
    socket.on("close", () => resume(Effect.succeed(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0))))
    socket.on("error", () => resume(Effect.succeed(0)))
  })

describe("RateLimitMiddleware (real sockets)", () => {
  itScopedLive(
    "allows up to the limit with RateLimit fields, then answers 429 with Retry-After and problem+json",
    () =>
      Effect.gen(function*() {
        const limit = yield* RateLimitMiddleware.make({
          name: "api",
          limitForPeriod: 2,
          limitRefreshPeriod: "1 minute"
        })
        const url = yield* serve(hello, limit)
        const client = yield* realClient
        const first = yield* client.get(url)
        const second = yield* client.get(url)
        const third = yield* client.get(url)
        expect([first.status, second.status, third.status]).toEqual([200, 200, 429])
        expect(first.headers["ratelimit-policy"]).toBe(`"api";q=2;w=60`)
        expect(first.headers["ratelimit"]).toMatch(/^"api";r=1;t=(60|59)$/)
        expect(second.headers["ratelimit"]).toMatch(/^"api";r=0;t=\d+$/)
        expect(third.headers["ratelimit-policy"]).toBe(`"api";q=2;w=60`)
        expect(third.headers["ratelimit"]).toMatch(/^"api";r=0;t=(60|59)$/)
        expect(Number(third.headers["retry-after"])).toBeGreaterThanOrEqual(59)
        expect(third.headers["content-type"]).toBe("application/problem+json")
        expect(yield* third.json).toMatchObject({ status: 429, title: "Too Many Requests" })
        expect(yield* first.text).toBe("hello")
        const refused = yield* counterValue(RateLimitMiddleware.metrics.refusals, [
          ["policy", "api"],
          ["reason", "rate_limited"],
          ["key_class", "ip"]
        ])
        expect(refused).toBe(1)
      })
  )

  itScopedLive(
    "applied to the app (serve(limit(app))) it answers as the server's middleware does: fields, 429, failures counted",
    () =>
      Effect.gen(function*() {
        const limit = yield* RateLimitMiddleware.make({
          name: "app",
          limitForPeriod: 2,
          limitRefreshPeriod: "1 minute"
        })
        const url = yield* serve(limit(hello))
        const client = yield* realClient
        const [first, second, third] = [yield* client.get(url), yield* client.get(url), yield* client.get(url)]
        expect([first.status, second.status, third.status]).toEqual([200, 200, 429])
        expect(first.headers["ratelimit-policy"]).toBe(`"app";q=2;w=60`)
        expect(second.headers["ratelimit"]).toMatch(/^"app";r=0;t=\d+$/)
        expect(Number(third.headers["retry-after"])).toBeGreaterThanOrEqual(59)
        expect(yield* first.text).toBe("hello")
        // An app that fails: the server answers 500, and the middleware still sends its fields and counts it.
        const failing = yield* RateLimitMiddleware.make({
          name: "failing",
          limitForPeriod: 5,
          limitRefreshPeriod: "1 minute"
        })
        const failingUrl = yield* serve(failing(Effect.die("boom")))
        const failed = yield* client.get(failingUrl)
        expect(failed.status).toBe(500)
        expect(failed.headers["ratelimit"]).toMatch(/^"failing";r=4;t=\d+$/)
        const refused = yield* counterValue(RateLimitMiddleware.metrics.refusals, [
          ["policy", "app"],
          ["reason", "rate_limited"],
          ["key_class", "ip"]
        ])
        expect(refused).toBe(1)
      })
  )

  itScopedLive(
    "X-Forwarded-For counts only behind a trusted proxy; malformed values fall back to the peer",
    () =>
      Effect.gen(function*() {
        const client = yield* realClient
        const send = (url: string, xff: string) =>
          Effect.map(client.get(url, { headers: { "x-forwarded-for": xff } }), (r) => r.status)
        const untrusted = yield* RateLimitMiddleware.make({ name: "untrusted", limitForPeriod: 1 })
        const a = yield* serve(hello, untrusted)
        expect([yield* send(a, "10.0.0.1"), yield* send(a, "10.0.0.2")]).toEqual([200, 429]) // one peer, one key

        const trusted = yield* RateLimitMiddleware.make({
          name: "trusted",
          limitForPeriod: 1,
          trustedProxies: ["127.0.0.1"]
        })
        const b = yield* serve(hello, trusted)
        expect([yield* send(b, "10.0.0.1"), yield* send(b, "6.6.6.6, 10.0.0.2")]).toEqual([200, 200])
        expect(yield* send(b, "10.0.0.1")).toBe(429)
        // Garbage is not a key: the walk stops at the proxy that wrote it (the peer, 127.0.0.1), its own quota.
        expect(yield* send(b, "not-an-ip, \u00ff\u00fe")).toBe(200)
        expect(yield* send(b, ",,,")).toBe(429)
        expect(yield* trusted.liveKeys).toBe(3)
      })
  )

  itScopedLive(
    "API keys: one limiter each (hashed), anonymous requests share one; hostile bytes never crash",
    () =>
      Effect.gen(function*() {
        const limit = yield* RateLimitMiddleware.make({ name: "keys", key: "api-key", limitForPeriod: 1, maxKeys: 50 })
        const url = yield* serve(hello, limit)
        const port = Number(new URL(url).port)
        const client = yield* realClient
        const withKey = (key: string) => Effect.map(client.get(url, { headers: { "x-api-key": key } }), (r) => r.status)
        expect([yield* withKey("alpha"), yield* withKey("beta"), yield* withKey("alpha")]).toEqual([200, 200, 429])
        expect([(yield* client.get(url)).status, (yield* client.get(url)).status]).toEqual([200, 429])
        const statuses = yield* Effect.forEach([
          Buffer.concat([
            Buffer.from("GET / HTTP/1.1\r\nHost: x\r\nX-API-Key: "),
            Buffer.from("☃🚀".repeat(200), "utf8"),
            Buffer.from("\r\nConnection: close\r\n\r\n")
          ]),
          Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nX-API-Key: ${"k".repeat(12_000)}\r\nConnection: close\r\n\r\n`),
          Buffer.from("GET / HTTP/1.1\r\nHost: x\r\nX-API-Key:\r\nConnection: close\r\n\r\n"),
          Buffer.from(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: \x7f\x01, ::ffff:1.2.3.4\r\nConnection: close\r\n\r\n"
          )
        ], (bytes) => rawRequest(port, bytes))
        // Node's parser answers what it cannot parse (400, 431) before any middleware; nothing else may happen.
        for (const status of statuses) expect([200, 400, 429, 431]).toContain(status)
        expect((yield* client.get(url, { headers: { "x-api-key": "gamma" } })).status).toBe(200) // still serving
        expect(yield* limit.liveKeys).toBeLessThanOrEqual(50)
      })
  )

  itScopedLive("sheds load: beyond maxConcurrentRequests it answers 503 at once", () =>
    Effect.gen(function*() {
      const slow = Effect.as(Effect.sleep("60 millis"), HttpServerResponse.text("done"))
      const limit = yield* RateLimitMiddleware.make({ name: "shed", limitForPeriod: 100, maxConcurrentRequests: 1 })
      const url = yield* serve(slow, limit)
      const client = yield* realClient
      const responses = yield* Effect.all([1, 2, 3].map(() => client.get(url)), { concurrency: 3 })
      const statuses = responses.map((r) => r.status).sort()
      expect(statuses[0]).toBe(200)
      expect(statuses).toContain(503)
      const shed = responses.find((r) => r.status === 503)!
      expect(shed.headers["retry-after"]).toBe("1")
      expect(shed.headers["content-type"]).toBe("application/problem+json")
      expect(yield* limit.inFlight).toMatchObject({ _tag: "Some", value: 0 })
    }))

  itScopedLive(
    "the router form limits per route and labels metrics with the route pattern",
    () =>
      Effect.gen(function*() {
        const limit = yield* RateLimitMiddleware.make({ name: "routes", key: "route", limitForPeriod: 1 })
        const router = routes([
          ["GET", "/users/:id", hello],
          ["GET", "/health", hello]
        ])
        const url = yield* serveRoutes(limit.router(router))
        const client = yield* realClient
        const status = (path: string) => Effect.map(client.get(`${url}${path}`), (r) => r.status)
        expect([yield* status("/users/1"), yield* status("/users/2"), yield* status("/health")]).toEqual([
          200,
          429,
          200
        ])
        const ok = yield* counterValue(RateLimitMiddleware.metrics.responses, [
          ["policy", "routes"],
          ["route", "GET /users/:id"],
          ["code", "429"]
        ])
        expect(ok).toBe(1)
      })
  )

  itScoped(
    "20,000 distinct keys: live keys never exceed the bound, and a new client is served after the flood",
    () =>
      Effect.gen(function*() {
        const limit = yield* RateLimitMiddleware.make({
          name: "flood",
          key: "api-key",
          limitForPeriod: 5,
          maxKeys: 1000
        })
        const app = limit(hello)
        const call = (key: string) =>
          Effect.provideService(
            app,
            ServerRequest,
            requestFromWeb(new Request("http://x/", { headers: { "x-api-key": key } }))
          )
        expect((yield* call("known")).status).toBe(200)
        let peak = 0
        for (let i = 0; i < 20_000; i++) {
          yield* call(`attacker-${i}`)
          if (i % 1000 === 0) peak = Math.max(peak, yield* limit.liveKeys)
        }
        peak = Math.max(peak, yield* limit.liveKeys)
        expect(peak).toBeLessThanOrEqual(1000)
        expect((yield* call("newcomer")).status).toBe(200) // the least recently used idle key made room
      }),
    20_000
  )

  itScoped(
    "token bucket and sliding window: RateLimit's t; a throwing key or route label is anonymous / *",
    () =>
      Effect.gen(function*() {
        const call = (limit: RateLimitMiddleware.RateLimitMiddleware) =>
          Effect.provideService(
            limit(hello),
            ServerRequest,
            requestFromWeb(new Request("http://x/quotes"))
          )
        const bucket = yield* RateLimitMiddleware.make({
          name: "bucket",
          algorithm: "token-bucket",
          limitForPeriod: 2,
          capacity: 4,
          limitRefreshPeriod: "1 minute",
          key: () => {
            throw new Error("no key")
          },
          routeLabel: () => {
            throw new Error("no label")
          }
        })
        const four = yield* Effect.replicateEffect(call(bucket), 4)
        expect(four.map((r) => r.status)).toEqual([200, 200, 200, 200])
        const refused = yield* call(bucket)
        expect(refused.status).toBe(429)
        expect(refused.headers["ratelimit"]).toBe(`"bucket";r=0;t=120`) // 4 tokens at 2 a minute
        expect(refused.headers["retry-after"]).toBe("30")
        const sliding = yield* RateLimitMiddleware.make({
          name: "sliding",
          algorithm: "sliding-window",
          limitForPeriod: 1,
          limitRefreshPeriod: "10 seconds",
          key: "route",
          routeLabel: () => "quotes"
        })
        expect((yield* call(sliding)).status).toBe(200)
        expect((yield* call(sliding)).headers["ratelimit"]).toBe(`"sliding";r=0;t=10`)
      })
  )

  it.effect("bad options fail with InvalidConfigError naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(RateLimitMiddleware.make({
        name: "bad\n",
        limitForPeriod: 0,
        key: "cookie" as never,
        maxConcurrentRequests: 0
      })))
      expect(error.message).toContain("name")
      expect(error.message).toContain("limitForPeriod = 0")
      expect(error.message).toContain("key = \"cookie\"")
      expect(error.message).toContain("maxConcurrentRequests = 0")
    }))
})
