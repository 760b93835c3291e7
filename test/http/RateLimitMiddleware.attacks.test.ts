/**
 * The attacks of issue 15 (items 3-6) against the inbound middleware, on real `@effect/platform-node`
 * servers where a socket matters. Distinct source addresses are real: Linux routes all of 127/8 to
 * loopback, so a client socket bound to 127.0.x.y is a distinct peer.
 *
 * Real-clock socket tests: every wait is bounded (a few hundred milliseconds at most).
 */
// Runs on both Effect targets: the HTTP types come from "#port/httpServer", servers from "#test-port/http".
import { callback, forkChild } from "#port"
import { HttpServerResponse, routes, ServerRequest, type ServerResponse } from "#port/httpServer"
import { itScoped, itScopedLive, yieldNow } from "#test-port"
import { requestFromWeb, serve, serveRoutes } from "#test-port/http"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option, Schedule, Stream } from "effect"
import * as http from "node:http"
import * as net from "node:net"
import * as RateLimitMiddleware from "../../src/http/RateLimitMiddleware.js"

// A response is an Effect on Effect 3, not on Effect 4: handlers are written as Effects for both.
const hello = Effect.succeed(HttpServerResponse.text("hello"))

interface Sent {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
}

/** One request from `localAddress` on a fresh connection. */
const send = (url: string, options: {
  readonly from?: string
  readonly path?: string
  readonly headers?: Record<string, string>
  readonly method?: string
  readonly agent?: http.Agent
} = {}) =>
  callback<Sent>((resume) => {
    const target = new URL(url)
    const request = http.request({
      host: "127.0.0.1",
      port: target.port,
      path: options.path ?? "/",
      method: options.method ?? "GET",
      headers: options.headers ?? {},
      localAddress: options.from ?? "127.0.0.1",
      agent: options.agent ?? false
    }, (response) => {
      response.resume()
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, headers: response.headers })))
    })
    request.on("error", (error) => resume(Effect.die(error)))
    request.end()
  })

const statuses = (all: ReadonlyArray<Sent>) => all.map((r) => r.status)

/** The middleware applied to `app` run by hand (no socket), for floods of keys that need no peer. */
const byHand = (
  limit: RateLimitMiddleware.RateLimitMiddleware,
  app: Effect.Effect<ServerResponse, never, ServerRequest> = hello
) => {
  const guarded = limit(app)
  return (headers: Record<string, string>, url = "http://x/") =>
    Effect.map(
      Effect.provideService(
        guarded,
        ServerRequest,
        requestFromWeb(new Request(url, { headers }))
      ),
      (response) => response.status
    )
}

const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length

describe("key table: a full table evicts the least recently used idle key (issue 15, item 3)", () => {
  itScoped(
    "50,000 distinct keys through the middleware (200,000 in keyTable.test.ts): a brand-new client is served at once",
    () =>
      Effect.gen(function*() {
        // The key is read from a variable, so that the flood costs one request object, not 50,000.
        let key = "first"
        const limit = yield* RateLimitMiddleware.make({
          name: "flood",
          key: () => key,
          limitForPeriod: 5,
          maxKeys: 1000
        })
        const app = Effect.provideService(
          limit(hello),
          ServerRequest,
          requestFromWeb(new Request("http://x/"))
        )
        const timersBefore = timers()
        for (let i = 0; i < 50_000; i++) {
          key = `attacker-${i}`
          yield* app
        }
        expect(yield* limit.liveKeys).toBe(1000)
        expect(timers() - timersBefore).toBeLessThan(5) // was one timer per key
        key = "newcomer" // before: every new key shared one exhausted overflow limiter, so this was 429
        expect((yield* app).status).toBe(200)
        key = "attacker-49999" // recent keys keep their own state
        expect((yield* Effect.replicateEffect(app, 5)).map((r) => r.status)).toEqual([200, 200, 200, 200, 429])
      }),
    30_000
  )

  itScoped(
    "a key with a request in flight is never evicted; when every key is, a new key is answered 503",
    () =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const held = Effect.as(Deferred.await(gate), HttpServerResponse.text("held"))
        const limit = yield* RateLimitMiddleware.make({
          name: "pinned",
          key: "api-key",
          limitForPeriod: 5,
          maxKeys: 2,
          maxConcurrentRequestsPerKey: 1
        })
        const call = byHand(limit, held)
        const a = yield* forkChild(call({ "x-api-key": "a" }))
        const b = yield* forkChild(call({ "x-api-key": "b" }))
        yield* yieldNow
        expect(yield* call({ "x-api-key": "c" })).toBe(503) // both keys are in use: nothing to evict
        expect(yield* call({ "x-api-key": "a" })).toBe(429) // "a" kept its state: its one slot is taken
        yield* Deferred.succeed(gate, undefined)
        expect([yield* Fiber.join(a), yield* Fiber.join(b)]).toEqual([200, 200])
        expect(yield* call({ "x-api-key": "c" })).toBe(200) // now "a" (least recently used, idle) makes room
        expect(yield* limit.liveKeys).toBe(2)
      })
  )

  itScopedLive(
    "1,500 real source addresses with maxKeys 1,000: a new address is served on its first request",
    () =>
      Effect.gen(function*() {
        const limit = yield* RateLimitMiddleware.make({ name: "addresses", limitForPeriod: 1, maxKeys: 1000 })
        const url = yield* serve(hello, limit)
        const address = (i: number) => `127.1.${i >> 8}.${(i & 255) + 1 > 254 ? 254 : (i & 255) + 1}`
        const sources = [...new Set(Array.from({ length: 1600 }, (_, i) => address(i)))].slice(0, 1500)
        const first = yield* Effect.forEach(sources, (from) => send(url, { from }), { concurrency: 32 })
        expect(statuses(first).every((s) => s === 200)).toBe(true)
        expect((yield* send(url, { from: sources[1499]! })).status).toBe(429) // a recent key kept its state
        expect(yield* limit.liveKeys).toBe(1000)
        expect((yield* send(url, { from: "127.2.0.1" })).status).toBe(200) // was 429 (shared overflow limiter)
      }),
    30_000
  )
})

describe("proxy trust and address keys (issue 15, item 4)", () => {
  const PROXY = "127.0.0.2"
  const ATTACKER = "127.0.0.3"

  itScopedLive(
    "X-Forwarded-For from a peer that is not a listed proxy is ignored: rotating it buys nothing",
    () =>
      Effect.gen(function*() {
        const limit = yield* RateLimitMiddleware.make({ name: "xff", limitForPeriod: 5, trustedProxies: [PROXY] })
        const url = yield* serve(hello, limit)
        const rotating = yield* Effect.forEach(
          Array.from({ length: 30 }, (_, i) => `198.51.100.${i + 1}`),
          (xff) => send(url, { from: ATTACKER, headers: { "x-forwarded-for": xff } })
        )
        expect(statuses(rotating).filter((s) => s === 200)).toHaveLength(5) // was 30/30
        // Forged requests naming a real client's address cost that client nothing.
        const victim = "203.0.113.7"
        yield* Effect.forEach(
          Array.from({ length: 6 }),
          () => send(url, { from: ATTACKER, headers: { "x-forwarded-for": victim } })
        )
        expect((yield* send(url, { from: PROXY, headers: { "x-forwarded-for": victim } })).status).toBe(200)
        // Through the proxy, a client is its address; one it spoofs to the left of the proxy's is not believed.
        const spoof = yield* Effect.forEach(
          Array.from({ length: 6 }, (_, i) => `10.9.9.${i}, 203.0.113.8`),
          (xff) => send(url, { from: PROXY, headers: { "x-forwarded-for": xff } })
        )
        expect(statuses(spoof)).toEqual([200, 200, 200, 200, 200, 429])
      })
  )

  itScopedLive(
    "addresses are canonical: one IPv6 address spelled five ways, IPv4-mapped, zone ids, /64 networks",
    () =>
      Effect.gen(function*() {
        const limit = yield* RateLimitMiddleware.make({
          name: "canonical",
          limitForPeriod: 5,
          trustedProxies: ["127.0.0.0/30", "::1"],
          maxKeyLength: 64
        })
        const url = yield* serve(hello, limit)
        const via = (xff: string) => send(url, { from: PROXY, headers: { "x-forwarded-for": xff } })
        const spellings = [
          "2001:db8::1",
          "2001:0db8:0000:0000:0000:0000:0000:0001",
          "2001:DB8::1",
          "2001:db8:0:0::1",
          "2001:db8::0:1"
        ]
        const five = yield* Effect.forEach(spellings, via)
        expect(statuses(five)).toEqual([200, 200, 200, 200, 200])
        expect((yield* via("2001:db8::ffff:1")).status).toBe(429) // the same /64
        expect((yield* via("2001:db8:0:1::1")).status).toBe(200) // another /64
        const mapped = yield* Effect.forEach([
          "192.0.2.9",
          "::ffff:c000:209",
          "::ffff:192.0.2.9",
          "0:0:0:0:0:ffff:c000:0209",
          "192.0.2.9"
        ], via)
        expect(statuses(mapped)).toEqual([200, 200, 200, 200, 200])
        expect((yield* via("::ffff:192.0.2.9")).status).toBe(429)
        const zoned = yield* Effect.forEach(
          ["fe80::1%eth0", `fe80::1%${"z".repeat(1500)}`, "fe80::1", "fe80::2%lo", "FE80::1%1"],
          via
        )
        expect(statuses(zoned)).toEqual([200, 200, 200, 200, 200])
        expect((yield* via(`fe80::1%${"q".repeat(1500)}`)).status).toBe(429)
        // Keys: the proxy's own? no: 2001:db8::/64, 2001:db8:0:1::/64, 192.0.2.9, fe80::/64.
        expect(yield* limit.liveKeys).toBe(4)
      })
  )

  it.effect("trustProxy without trustedProxies is refused; a bad proxy entry is named", () =>
    Effect.gen(function*() {
      const unlisted = yield* Effect.flip(Effect.scoped(RateLimitMiddleware.make({ name: "p", trustProxy: 1 })))
      expect(unlisted.message).toContain("trustedProxies")
      const bad = yield* Effect.flip(
        Effect.scoped(
          RateLimitMiddleware.make({ name: "p", trustedProxies: ["10.0.0.0/8", "proxy.local"], ipv6Prefix: 0 })
        )
      )
      expect(bad.message).toContain("proxy.local")
      expect(bad.message).toContain("ipv6Prefix")
    }))

  itScopedLive("trustProxy caps the hops walked through listed proxies", () =>
    Effect.gen(function*() {
      const limit = yield* RateLimitMiddleware.make({
        name: "hops",
        limitForPeriod: 1,
        trustedProxies: ["127.0.0.2", "10.0.0.0/8"],
        trustProxy: 1
      })
      const url = yield* serve(hello, limit)
      const via = (xff: string) => send(url, { from: PROXY, headers: { "x-forwarded-for": xff } })
      // One hop: the entry the proxy wrote (10.1.1.1, itself a listed proxy) is the client.
      expect(statuses([yield* via("203.0.113.1, 10.1.1.1"), yield* via("203.0.113.2, 10.1.1.1")])).toEqual([200, 429])
    }))
})

describe("route keys as a server-wide middleware (issue 15, item 5)", () => {
  itScopedLive(
    "spellings of a refused route are refused too; unmatched paths share one key",
    () =>
      Effect.gen(function*() {
        const limit = yield* RateLimitMiddleware.make({
          name: "route-keys",
          key: "route",
          limitForPeriod: 1,
          maxKeys: 1000
        })
        const url = yield* serveRoutes(routes([["GET", "/quotes", hello]]), limit)
        expect((yield* send(url, { path: "/quotes" })).status).toBe(200)
        expect((yield* send(url, { path: "/quotes" })).status).toBe(429)
        const variants = ["/quotes/", "//quotes", "/%71uotes", "/QUOTES", "/quotes;a", "/./quotes", "/x/../quotes?y=1"]
        const answers = yield* Effect.forEach(variants, (path) => send(url, { path }))
        expect(statuses(answers)).toEqual(variants.map(() => 429)) // were all served
        // 300 random paths the router does not know: each is answered 404 once (its own key, then dropped);
        // asked again, they share one key (`(unmatched)`, one permit), so they no longer fill the table.
        const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
        yield* Effect.addFinalizer(() => Effect.sync(() => agent.destroy()))
        const paths = Array.from({ length: 300 }, (_, i) => `/${i.toString(36)}-${Math.random().toString(36).slice(2)}`)
        const first = yield* Effect.forEach(paths, (path) => send(url, { path, agent }), { concurrency: 16 })
        expect(statuses(first).every((s) => s === 404)).toBe(true)
        const again = statuses(yield* Effect.forEach(paths, (path) => send(url, { path, agent }), { concurrency: 16 }))
        expect(again.filter((s) => s === 404)).toHaveLength(1)
        expect(again.filter((s) => s === 429)).toHaveLength(299)
        expect(yield* limit.liveKeys).toBeLessThanOrEqual(2) // /quotes and (unmatched), not one key per path
      }),
    30_000
  )

  /** A router with a parameter route, `/checkout` and `/quotes`, served behind `limit`. */
  const shop = (limit: RateLimitMiddleware.RateLimitMiddleware) =>
    serveRoutes(
      routes([
        ["GET", "/users/:id", hello],
        ["GET", "/checkout", hello],
        ["GET", "/quotes", hello]
      ]),
      limit
    )

  itScopedLive(
    "a flood of 404 paths before any route is served never refuses a real route's first request",
    () =>
      Effect.gen(function*() {
        const limit = yield* RateLimitMiddleware.make({ name: "route-flood", key: "route", limitForPeriod: 5 })
        const url = yield* shop(limit)
        const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
        yield* Effect.addFinalizer(() => Effect.sync(() => agent.destroy()))
        // Right after a start: 300 random 404 paths, each sent twice (the second round spends `(unmatched)`).
        const paths = Array.from({ length: 300 }, (_, i) => `/${i.toString(36)}-${Math.random().toString(36).slice(2)}`)
        const flood = statuses(
          yield* Effect.forEach([...paths, ...paths], (path) => send(url, { path, agent }), { concurrency: 16 })
        )
        expect(flood.filter((s) => s === 429).length).toBeGreaterThan(250) // `(unmatched)` is spent
        // Was 429 (charged to the spent `(unmatched)`), and never learned: locked out for the flood's length.
        expect((yield* send(url, { path: "/checkout" })).status).toBe(200)
        const more = yield* Effect.replicateEffect(send(url, { path: "/checkout" }), 5)
        expect(statuses(more)).toEqual([200, 200, 200, 200, 429]) // its own quota of 5
      }),
    30_000
  )

  itScopedLive(
    "250 distinct served paths (past maxRoutes 200) cannot fill the learned routes: a new route gets its own quota",
    () =>
      Effect.gen(function*() {
        const limit = yield* RateLimitMiddleware.make({ name: "route-fill", key: "route", limitForPeriod: 1 })
        const url = yield* shop(limit)
        const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
        yield* Effect.addFinalizer(() => Effect.sync(() => agent.destroy()))
        const users = Array.from({ length: 250 }, (_, i) => `/users/${i}`)
        const served = yield* Effect.forEach(users, (path) => send(url, { path, agent }), { concurrency: 16 })
        expect(statuses(served).every((s) => s === 200)).toBe(true) // each its own route
        // Was 429: the 200 learned routes were full for good, so /checkout shared the spent `(unmatched)`.
        expect((yield* send(url, { path: "/checkout" })).status).toBe(200)
        expect((yield* send(url, { path: "/checkout" })).status).toBe(429) // its own key, now learned
        expect((yield* send(url, { path: "/quotes" })).status).toBe(200)
        expect((yield* send(url, { path: "/users/249" })).status).toBe(429) // recent routes keep their state
      }),
    30_000
  )
})

describe("slow clients (issue 15, item 6)", () => {
  /** Opens a POST whose body trickles one byte every `everyMillis`; resolves with the status, if any. */
  const trickle = (port: number, from: string, everyMillis: number) =>
    callback<number>((resume) => {
      const socket = net.connect({ port, host: "127.0.0.1", localAddress: from }, () => {
        socket.write("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
      })
      const timer = setInterval(() => socket.write("a"), everyMillis) // real clock: the client's pace
      let data = ""
      socket.on("data", (chunk) => (data += chunk.toString("latin1")))
      const done = () => {
        clearInterval(timer)
        resume(Effect.succeed(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)))
      }
      socket.on("close", done)
      socket.on("error", () => undefined)
      return Effect.sync(() => {
        clearInterval(timer)
        socket.destroy()
      })
    })

  const upload = Effect.gen(function*() {
    const request = yield* ServerRequest
    const text = yield* Effect.orDie(request.text)
    return HttpServerResponse.text(`got ${text.length}`)
  })

  itScopedLive(
    "trickling uploads from one address hold one slot, not all; the body time limit answers 408",
    () =>
      Effect.gen(function*() {
        const limit = yield* RateLimitMiddleware.make({
          name: "slow",
          limitForPeriod: 100,
          maxConcurrentRequests: 3,
          maxConcurrentRequestsPerKey: 1,
          requestBodyTimeout: "400 millis"
        })
        const router = routes([["POST", "/upload", upload], ["GET", "/", hello]])
        const url = yield* serveRoutes(router, limit)
        const port = Number(new URL(url).port)
        const uploads = yield* forkChild(
          Effect.all(Array.from({ length: 3 }, () => trickle(port, "127.0.0.5", 50)), { concurrency: 3 })
        )
        yield* Effect.sleep("100 millis")
        // Other addresses are served (before: 503 for as long as the sockets lived).
        const others = yield* Effect.forEach(["127.0.0.6", "127.0.0.7"], (from) => send(url, { from }))
        expect(statuses(others)).toEqual([200, 200])
        expect(yield* limit.inFlight).toEqual(Option.some(1))
        const answered = (yield* Fiber.join(uploads)).sort()
        // Two refused at once (and their connections closed); one held a slot until its time ran out, and
        // its connection was closed then (Node tears the socket down with the unread body: no status line).
        expect(answered).toEqual([0, 429, 429])
        expect(yield* limit.inFlight).toEqual(Option.some(0))
      }),
    10_000
  )

  itScopedLive(
    "a streamed response holds its slot until the body is sent or the connection closes",
    () =>
      Effect.gen(function*() {
        const limit = yield* RateLimitMiddleware.make({
          name: "streams",
          limitForPeriod: 100,
          maxConcurrentRequests: 5
        })
        const tick = new TextEncoder().encode("tick\n")
        const slowStream = Effect.succeed(HttpServerResponse.stream(
          Stream.fromIterable(Array.from({ length: 6 }, () => tick)).pipe(Stream.schedule(Schedule.spaced("50 millis")))
        ))
        // The middleware around the app (not server-wide): the body is sent after the handler returned.
        const url = yield* serve(limit(slowStream))
        const streaming = yield* forkChild(send(url))
        yield* Effect.sleep("120 millis")
        expect(yield* limit.inFlight).toEqual(Option.some(1)) // was 0: released when the handler returned
        expect((yield* Fiber.join(streaming)).status).toBe(200)
        yield* Effect.sleep("20 millis")
        expect(yield* limit.inFlight).toEqual(Option.some(0))
        // A client that goes away mid-stream gives its slot back.
        const port = Number(new URL(url).port)
        const socket = net.connect(port, "127.0.0.1", () => socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        yield* Effect.sleep("80 millis")
        expect(yield* limit.inFlight).toEqual(Option.some(1))
        socket.destroy()
        yield* Effect.sleep("50 millis")
        expect(yield* limit.inFlight).toEqual(Option.some(0))
      }),
    10_000
  )
})
