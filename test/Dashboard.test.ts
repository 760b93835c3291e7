// Runs on both Effect targets: what differs between Effect 3 and 4 comes from the ports (the router is
// an `HttpRouter` value on 3, a routes Layer on 4; "#test-port/http" answers web Requests with either).
import { forkChild, scopeProvide } from "#port"
import { resourceLayer } from "#port/otel"
import { itScoped, TestClock } from "#test-port"
import { webHandler } from "#test-port/http"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Schedule, Scope } from "effect"
import * as Dashboard from "../src/dashboard/Dashboard.js"
import * as AdaptiveLimiter from "../src/guards/AdaptiveLimiter.js"
import * as AdaptiveThrottler from "../src/guards/AdaptiveThrottler.js"
import * as CircuitBreaker from "../src/guards/CircuitBreaker.js"
import * as Hedge from "../src/guards/Hedge.js"
import { hubOf } from "../src/guards/internal/guardInternals.js"
import * as RetryBudget from "../src/guards/RetryBudget.js"
import * as Metrics from "../src/observability/Metrics.js"
import * as Prometheus from "../src/observability/Prometheus.js"
import * as Registry from "../src/registry/Registry.js"

/** The router answering in process (no socket), with `context` provided. */
const handlerOf = <R, E>(context: Layer.Layer<R | Dashboard.Dashboard, E>) =>
  Effect.acquireRelease(
    Effect.sync(() => webHandler(Dashboard.router, context)),
    (web) => Effect.promise(() => web.dispose())
  )

const get = (web: { readonly handler: (request: Request) => Promise<Response> }, path: string) =>
  // A web Request carries no Host header: its URL's host is checked instead.
  Effect.promise(() => web.handler(new Request(`http://localhost${path}`)))

describe("Dashboard", () => {
  itScoped(
    "a document shows every guard generically, extras included, with time in state and default figures",
    () =>
      Effect.gen(function*() {
        const registry = yield* Registry.make()
        const breaker = yield* registry.circuitBreaker("payments", { minimumNumberOfCalls: 2, slidingWindowSize: 2 })
        yield* registry.bulkhead("db", { maxConcurrentCalls: 1 })
        const budget = yield* RetryBudget.make({ name: "payments" })
        const dashboard = yield* Dashboard.make({
          title: "checkout",
          guards: registry.guards,
          extras: Effect.map(Dashboard.viewOfBudget(budget), (view) => [view])
        })
        const call = (effect: Effect.Effect<void, string>) =>
          Effect.exit(CircuitBreaker.withCircuitBreaker(effect, breaker))
        yield* call(Effect.fail("boom"))
        yield* call(Effect.fail("boom"))
        yield* call(Effect.void) // refused: open
        const first = yield* dashboard.document
        expect(first.title).toBe("checkout")
        expect(first.status).toBe("DOWN")
        expect(first.guards.map((g) => `${g.kind}/${g.name}`)).toEqual([
          "CircuitBreaker/payments",
          "Bulkhead/db",
          "RetryBudget/payments"
        ])
        const view = first.guards[0]!
        expect(view.state).toBe("Open")
        expect(view.configuration["failureRateThreshold"]).toBe(50)
        expect(view.metrics["timeInStateMillis"]).toBe(0)
        expect(first.failures).toEqual({
          dependencyError: 2,
          timeout: 0,
          circuitOpen: 1,
          rateLimited: 0,
          bulkheadFull: 0
        })
        expect(first.traffic).toEqual({ offered: 3, delivered: 2 })
        expect(first.calls).toBe(3)
        expect(first.guards[2]!.metrics["availableRetries"]).toBeGreaterThan(0)

        yield* TestClock.adjust("1500 millis")
        expect((yield* dashboard.document).guards[0]!.metrics["timeInStateMillis"]).toBe(1500)
        // Followed from the first document: a transition between two reads has its exact time.
        yield* breaker.transitionToClosed
        yield* TestClock.adjust("200 millis")
        const later = yield* dashboard.document
        expect(later.guards[0]!.metrics["timeInStateMillis"]).toBe(200)
        expect(later.transitions).toEqual([
          { at: 1500, kind: "CircuitBreaker", name: "payments", from: "Open", to: "Closed" }
        ])
      })
  )

  itScoped(
    "follows a guard's transitions until the guard's scope closes, then lets go of it",
    () =>
      Effect.gen(function*() {
        const guardScope = yield* Scope.make()
        const breaker = yield* scopeProvide(CircuitBreaker.make({ name: "payments" }), guardScope)
        const dashboard = yield* Dashboard.make({ guards: Effect.succeed([breaker]), history: 0 })
        yield* dashboard.document
        const hub = hubOf(breaker)
        expect(hub.rareSubscribers).toBe(1)
        yield* breaker.transitionToOpen // right after the first document: already followed
        yield* TestClock.adjust("1 millis") // lets the follower take the event
        expect((yield* dashboard.document).transitions.map((t) => t.to)).toEqual(["Open"])
        yield* Scope.close(guardScope, Exit.void)
        yield* TestClock.adjust("1 millis") // lets the follower see the end of the guard's events
        expect(hub.rareSubscribers).toBe(0)
        expect(hub.listening).toBe(false)
      })
  )

  itScoped("the guards default to the Metrics collector's, and none without one", () =>
    Effect.gen(function*() {
      expect((yield* (yield* Dashboard.make()).document).guards).toEqual([])
      const registry = yield* Registry.make()
      yield* registry.rateLimiter("search", { limitForPeriod: 1, timeoutDuration: 0 })
      const collector = yield* Metrics.make({ registry })
      const dashboard = yield* Dashboard.make({ failures: Effect.succeed({ custom: 4 }) }).pipe(
        Effect.provideService(Metrics.Collector, collector)
      )
      const document = yield* dashboard.document
      expect(document.guards.map((g) => g.name)).toEqual(["search"])
      expect(document.failures).toEqual({ custom: 4 })
      expect(document.traffic).toEqual({ offered: 0, delivered: 0 })
    }))

  itScoped(
    "the adaptive guards show with their figures, and their refusals in the breakdown",
    () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveLimiter.make({ name: "search", initialLimit: 1, minLimit: 1, maxLimit: 1 })
        const throttler = yield* AdaptiveThrottler.make({ name: "payments" })
        const hedge = yield* Hedge.make({ name: "profiles", delay: "10 millis" })
        const dashboard = yield* Dashboard.make({ guards: Effect.succeed([limiter, throttler, hedge]) })

        // The one permit held, two more calls refused at once.
        const release = yield* Deferred.make<void>()
        const holder = yield* forkChild(AdaptiveLimiter.withAdaptiveLimiter(Deferred.await(release), limiter))
        yield* TestClock.adjust("1 millis")
        const refused = yield* Effect.forEach(
          [1, 2],
          () => Effect.flip(AdaptiveLimiter.withAdaptiveLimiter(Effect.void, limiter))
        )
        expect(refused.map((error) => error._tag)).toEqual(["LimitExceededError", "LimitExceededError"])
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)

        // A dependency rejecting everything: the throttler soon refuses locally most calls.
        const outcomes = yield* Effect.forEach(
          Array.from({ length: 30 }),
          () => Effect.flip(AdaptiveThrottler.withAdaptiveThrottler(Effect.fail("rejected"), throttler))
        )
        const throttled = outcomes.filter((error) => error instanceof AdaptiveThrottler.ThrottledError).length
        expect(throttled).toBeGreaterThan(0)

        // A slow first attempt: the hedge starts a second one after its delay, which wins.
        let attempts = 0
        const slowFirst = Effect.suspend(() =>
          Effect.as(Effect.sleep(attempts++ === 0 ? "1 second" : "1 millis"), attempts)
        )
        const hedged = yield* forkChild(Hedge.withHedge(slowFirst, hedge, { idempotent: true }))
        yield* TestClock.adjust("20 millis")
        expect(yield* Fiber.join(hedged)).toBe(2)

        const document = yield* dashboard.document
        const byKind = Object.fromEntries(document.guards.map((guard) => [guard.kind, guard]))
        expect(Object.keys(byKind)).toEqual(["AdaptiveLimiter", "AdaptiveThrottler", "Hedge"])
        expect(byKind["AdaptiveLimiter"]).toMatchObject({
          name: "search",
          metrics: { limit: 1, rejectedCallsTotal: 2 }
        })
        expect(byKind["AdaptiveThrottler"]).toMatchObject({
          name: "payments",
          metrics: { throttledCallsTotal: throttled, rejectedCallsTotal: 30 - throttled }
        })
        expect(byKind["AdaptiveThrottler"]!.metrics["rejectionProbability"]).toBeGreaterThan(0.5)
        expect(byKind["Hedge"]).toMatchObject({
          name: "profiles",
          metrics: { callsTotal: 1, hedgesStartedTotal: 1, hedgesWonTotal: 1 }
        })
        expect(document.failures).toEqual({
          dependencyError: 0,
          timeout: 0,
          circuitOpen: 0,
          rateLimited: 0,
          bulkheadFull: 0,
          throttled,
          adaptiveLimit: 2
        })
        // What the page reads (the snapshot route and the event stream send this JSON).
        expect(JSON.parse(Dashboard.toJson(document)).failures).toMatchObject({ throttled, adaptiveLimit: 2 })
      })
  )

  itScoped("keeps the last `history` documents, one per interval; none with 0", () =>
    Effect.gen(function*() {
      const dashboard = yield* Dashboard.make({ history: 2, interval: "1 second" })
      const none = yield* Dashboard.make({ history: 0 })
      yield* TestClock.adjust("5 seconds")
      expect((yield* dashboard.history).map((d) => d.at)).toEqual([4000, 5000])
      expect(yield* none.history).toEqual([])
    }))

  itScoped("a source that dies costs one document, not the history for good", () =>
    Effect.gen(function*() {
      let calls = 0
      const dashboard = yield* Dashboard.make({
        history: 5,
        extras: Effect.suspend(() => calls++ === 1 ? Effect.die("flaky extras") : Effect.succeed([]))
      })
      yield* TestClock.adjust("3 seconds")
      expect((yield* dashboard.history).map((d) => d.at)).toEqual([0, 2000, 3000])
    }))

  it.live("serves the page, its assets, the snapshot, health, server-sent events and /metrics", () =>
    Effect.scoped(Effect.gen(function*() {
      const registry = yield* Registry.make()
      const breaker = yield* registry.circuitBreaker("payments")
      const collector = yield* Metrics.make({ registry })
      const prometheus = yield* Prometheus.make(collector).pipe(Effect.provide(resourceLayer(undefined)))
      const web = yield* handlerOf(Layer.mergeAll(
        Dashboard.layer({ title: "checkout <&>", guards: registry.guards, interval: "20 millis" }),
        Layer.succeed(Prometheus.Prometheus, prometheus)
      ))

      const page = yield* get(web, "/breakwater")
      const html = yield* Effect.promise(() => page.text())
      expect(page.headers.get("content-type")).toContain("text/html")
      expect(html).toContain("<title>checkout &lt;&amp;&gt;</title>")
      expect(html).toContain("/breakwater/assets/uPlot.js")
      expect(html).toContain("<link rel=\"icon\" href=\"data:,\">") // no favicon request to answer 404
      for (const asset of ["uPlot.js", "uPlot.css", "dashboard.js", "dashboard.css"]) {
        const response = yield* get(web, `/breakwater/assets/${asset}`)
        expect(response.status).toBe(200)
        expect((yield* Effect.promise(() => response.text())).length).toBeGreaterThan(100)
      }
      expect((yield* get(web, "/breakwater/assets/secrets.txt")).status).toBe(404)

      const snapshot = yield* get(web, "/breakwater/snapshot")
      const document = (yield* Effect.promise(() => snapshot.json())) as Dashboard.Document
      expect(document.guards[0]).toMatchObject({ kind: "CircuitBreaker", name: "payments", state: "Closed" })

      expect((yield* get(web, "/breakwater/health")).status).toBe(200)
      // The history holds a document of the closed breaker before it opens (the first is taken by the
      // dashboard's own fiber as the layer is built; under load that can come after the requests above).
      yield* Effect.repeat(
        Effect.flatMap(
          get(web, "/breakwater/timeline"),
          (response) => Effect.promise(() => response.json() as Promise<ReadonlyArray<unknown>>)
        ),
        { until: (points) => points.length > 0, schedule: Schedule.spaced("5 millis") }
      )
      yield* breaker.transitionToOpen
      const down = yield* get(web, "/breakwater/health")
      expect(down.status).toBe(503)
      expect(yield* Effect.promise(() => down.json())).toMatchObject({ status: "DOWN" })

      const events = yield* get(web, "/breakwater/events")
      expect(events.headers.get("content-type")).toContain("text/event-stream")
      const reader = events.body!.getReader()
      const decoder = new TextDecoder()
      const received: Array<Dashboard.Document> = []
      let pending = ""
      // The history first (taken since the layer was built, the breaker still closed), then live documents.
      while (received.length === 0 || received[received.length - 1]!.guards[0]!.state !== "Open") {
        pending += decoder.decode((yield* Effect.promise(() => reader.read())).value)
        const chunks = pending.split("\n\n")
        pending = chunks.pop()!
        for (const chunk of chunks) received.push(JSON.parse(chunk.replace(/^data: /, "")))
      }
      yield* Effect.promise(() => reader.cancel())
      expect(received[0]!.guards[0]!.state).toBe("Closed")
      expect(received.map((d) => d.at)).toEqual(received.map((d) => d.at).sort((a, b) => a - b))

      const metrics = yield* get(web, "/metrics")
      expect(metrics.status).toBe(200)
      expect(yield* Effect.promise(() => metrics.text())).toContain(
        "breakwater_circuitbreaker_state{name=\"payments\",state=\"open\"} 1"
      )
    })))

  it.live("/metrics is 404 without a Prometheus service", () =>
    Effect.scoped(Effect.gen(function*() {
      const web = yield* handlerOf(Dashboard.layer())
      expect((yield* get(web, "/metrics")).status).toBe(404)
      // In process, the URL's host is checked when there is no Host header.
      const rebound = yield* Effect.promise(() => web.handler(new Request("http://attacker.example/breakwater/health")))
      expect(rebound.status).toBe(403)
    })))

  it.effect("a report is one self-contained page with the table and the recordings", () =>
    Effect.gen(function*() {
      const document: Dashboard.Document = {
        title: "run",
        at: 0,
        status: "UP",
        guards: [{ kind: "Hedge", name: "</script><b>x", status: "UP", configuration: {}, metrics: { hedged: 1 } }],
        failures: {},
        traffic: { offered: 1 },
        calls: 1,
        transitions: []
      }
      const html = yield* Dashboard.report({
        title: "lab",
        table: [["", "run"], ["offered", "1"]],
        recordings: [{ label: "run", documents: [document] }]
      })
      expect(html.startsWith("<!doctype html>")).toBe(true)
      expect(html).not.toMatch(/<script src=|<link rel="stylesheet" href=/)
      expect(html).toContain("uPlot")
      expect(html).not.toContain("</script><b>x") // embedded data cannot close its script element
      expect(html).toContain("\\u003c/script>\\u003cb>x")
    }))

  it.effect("toJson is plain JSON of the document", () =>
    Effect.sync(() => {
      const document: Dashboard.Document = {
        title: "t",
        at: 1,
        status: "UP",
        guards: [],
        failures: {},
        traffic: {},
        calls: 0,
        transitions: [{ at: 1, kind: "CircuitBreaker", name: "p", from: "Closed", to: "Open" }]
      }
      expect(JSON.parse(Dashboard.toJson(document))).toEqual(document)
    }))
})
