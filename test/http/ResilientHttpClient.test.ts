/**
 * The resilient client against real sockets: real `node:http` servers on 127.0.0.1 with ephemeral
 * ports and the real client of `@effect/platform-node` (undici; on Effect 4 under Node < 22.19, where
 * undici 8 cannot load, its `node:http` client). These tests use the REAL clock, so every wait is
 * kept tiny (tens of milliseconds); only the `Retry-After` tests wait ~1 s, the smallest delay the
 * header can express.
 */
import { forkChild, layerScoped } from "#port"
import { HttpClient } from "#port/httpClient"
import { makeAgent } from "#port/nodeHttpClient"
import { itScopedLive } from "#test-port"
import { realClient } from "#test-port/http"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Fiber, Layer, Option, Schema } from "effect"
import * as RetryBudget from "../../src/guards/RetryBudget.js"
import * as NodeResilientHttpClient from "../../src/http/NodeResilientHttpClient.js"
import * as ResilientHttpClient from "../../src/http/ResilientHttpClient.js"
import { flakyServer, isDecodeFailure, isTransportFailure, seriesValue, undiciLoads } from "./dependency.js"

const Widget = Schema.Struct({ id: Schema.Number, name: Schema.String })

/** A resilient client over the real client, in the test's scope. */
const clientWith = (options: ResilientHttpClient.Options) =>
  Effect.gen(function*() {
    const resilience = yield* ResilientHttpClient.make(options)
    // The real client, its dispatcher closed with the test's scope.
    const base = yield* realClient
    return { resilience, client: ResilientHttpClient.wrap(base, resilience) }
  })

const breakerOptions = {
  slidingWindowSize: 4,
  minimumNumberOfCalls: 4,
  waitDurationInOpenState: "50 millis",
  permittedNumberOfCallsInHalfOpenState: 1
} as const

const statusOf = <E, R>(call: Effect.Effect<{ readonly status: number }, E, R>) =>
  Effect.match(call, {
    onSuccess: (response): number | string => response.status,
    onFailure: (error) => (error as { _tag: string })._tag
  })

describe("ResilientHttpClient (real sockets)", () => {
  itScopedLive("the breaker opens on 5xx, refuses without sending, and recovers", () =>
    Effect.gen(function*() {
      const dependency = yield* flakyServer()
      const url = `${dependency.url}/items`
      const { client, resilience } = yield* clientWith({
        name: "breaker",
        circuitBreaker: breakerOptions,
        retry: false
      })
      dependency.state.mode = "fail"
      const first = yield* Effect.forEach([1, 2, 3, 4], () => statusOf(client.get(url)))
      expect(first).toEqual([500, 500, 500, 500]) // after the retries, the last 5xx is the answer
      expect(yield* statusOf(client.get(url))).toBe("CallNotPermittedError")
      expect(dependency.state.hits).toBe(4) // refused without reaching the server
      const open = yield* resilience.snapshot
      expect(open.targets[0]!.circuitState).toBe("Open")
      expect(open.targets[0]!.pressures).toContain("circuit-open")
      expect(open.targets[0]!.refusals.circuitOpen).toBe(1)

      dependency.state.mode = "ok"
      yield* Effect.sleep("70 millis")
      expect(yield* statusOf(client.get(url))).toBe(200) // the half-open trial
      const closed = yield* resilience.snapshot
      expect(closed.targets[0]!.circuitState).toBe("Closed")
      expect(closed.targets[0]!.responses).toEqual({ "200": 1, "500": 4 })
    }))

  itScopedLive("4xx other than 408/429 are successes for the breaker", () =>
    Effect.gen(function*() {
      const dependency = yield* flakyServer()
      const url = `${dependency.url}/missing`
      const { client, resilience } = yield* clientWith({ name: "4xx", circuitBreaker: breakerOptions })
      dependency.state.mode = "client-error"
      yield* Effect.forEach([1, 2, 3, 4, 5], () => client.get(url))
      const [target] = (yield* resilience.snapshot).targets
      expect(target!.circuitState).toBe("Closed")
      expect(Option.getOrThrow(target!.circuitMetrics).numberOfFailedCalls).toBe(0)
      expect(dependency.state.hits).toBe(5) // and 404 is not retried
    }))

  itScopedLive("429 with Retry-After pauses the target and delays the retry", () =>
    Effect.gen(function*() {
      const dependency = yield* flakyServer()
      const url = `${dependency.url}/quota`
      const { client, resilience } = yield* clientWith({
        name: "throttled",
        retry: { maxAttempts: 2, waitDuration: "10 millis" }
      })
      dependency.state.mode = "throttle-once"
      const started = Date.now()
      const fiber = yield* forkChild(client.get(url))
      yield* Effect.sleep("100 millis")
      // While the dependency's pause runs, a new call is refused locally, with the remaining wait.
      const refused = yield* Effect.flip(client.get(url))
      expect(refused._tag).toBe("RequestNotPermittedError")
      const wait = Duration.toMillis(
        Option.getOrThrow((refused as { retryAfter: Option.Option<Duration.Duration> }).retryAfter)
      )
      expect(wait).toBeGreaterThan(700)
      expect(wait).toBeLessThanOrEqual(1000)
      expect((yield* resilience.snapshot).targets[0]!.pressures).toContain("paused-by-dependency")
      const response = yield* Fiber.join(fiber)
      expect(response.status).toBe(200)
      expect(Date.now() - started).toBeGreaterThanOrEqual(950) // waited Retry-After, not 10 ms
      expect(dependency.state.hits).toBe(2)
    }))

  itScopedLive("503 with an HTTP-date Retry-After is honoured too", () =>
    Effect.gen(function*() {
      const dependency = yield* flakyServer()
      const url = `${dependency.url}/maintenance`
      const { client } = yield* clientWith({ name: "dated", retry: { maxAttempts: 2, waitDuration: "1 millis" } })
      dependency.state.mode = "unavailable-date-once"
      const started = Date.now()
      const response = yield* client.get(url)
      expect(response.status).toBe(200)
      expect(Date.now() - started).toBeGreaterThanOrEqual(300)
      expect(dependency.state.hits).toBe(2)
    }))

  itScopedLive(
    "a 200 with a bad body is a breaker failure, not retried; a good body stays readable",
    () =>
      Effect.gen(function*() {
        const dependency = yield* flakyServer()
        const url = `${dependency.url}/widget`
        const { client, resilience } = yield* clientWith({
          name: "validated",
          validate: Widget,
          retry: { maxAttempts: 3, waitDuration: "1 millis" }
        })
        const good = yield* client.get(url)
        expect(yield* good.json).toEqual({ id: 1, name: "widget" })

        dependency.state.mode = "bad-body"
        const error = yield* Effect.flip(client.get(url))
        expect(isDecodeFailure(error)).toBe(true)
        expect(dependency.state.hits).toBe(2) // one good call, one bad, no blind retry
        const [target] = (yield* resilience.snapshot).targets
        expect(Option.getOrThrow(target!.circuitMetrics).numberOfFailedCalls).toBe(1)
        expect(target!.failures.invalidBody).toBe(1)
      })
  )

  itScopedLive(
    "idempotent methods are retried, POST is not, and the budget can refuse retries",
    () =>
      Effect.gen(function*() {
        const dependency = yield* flakyServer()
        const url = `${dependency.url}/orders`
        dependency.state.mode = "fail"
        const { client } = yield* clientWith({ name: "methods", retry: { maxAttempts: 3, waitDuration: "1 millis" } })
        yield* client.get(url)
        expect(dependency.state.hits).toBe(3)
        yield* client.post(url)
        expect(dependency.state.hits).toBe(4)

        const budget = yield* RetryBudget.make({ name: "none", minRetriesPerSecond: 0, percentCanRetry: 0 })
        const stingy = yield* clientWith({
          name: "stingy",
          retry: { maxAttempts: 3, waitDuration: "1 millis" },
          retryBudget: budget
        })
        yield* stingy.client.get(url)
        expect(dependency.state.hits).toBe(5)
        expect((yield* budget.metrics).refusals).toBe(1)
      })
  )

  itScopedLive(
    "attempt timeouts are failures and retried; the total timeout bounds the call",
    () =>
      Effect.gen(function*() {
        const dependency = yield* flakyServer()
        const url = `${dependency.url}/slow`
        dependency.state.mode = "slow"
        dependency.state.delayMillis = 200
        const { client, resilience } = yield* clientWith({
          name: "timeouts",
          attemptTimeout: "30 millis",
          totalTimeout: "1 second",
          retry: { maxAttempts: 2, waitDuration: "1 millis" }
        })
        const error = yield* Effect.flip(client.get(url))
        expect(error._tag).toBe("TimeoutExceededError")
        expect(dependency.state.hits).toBe(2)
        const [target] = (yield* resilience.snapshot).targets
        expect(target!.failures.timeout).toBe(2)
        expect(Option.getOrThrow(target!.circuitMetrics).numberOfFailedCalls).toBe(2)

        const bounded = yield* clientWith({
          name: "total",
          attemptTimeout: "40 millis",
          totalTimeout: "60 millis",
          retry: { maxAttempts: 10, waitDuration: "1 millis" }
        })
        const started = Date.now()
        const total = yield* Effect.flip(bounded.client.get(url))
        expect(total._tag).toBe("TimeoutExceededError")
        expect((total as { timeLimiterName: string }).timeLimiterName).toMatch(/:total$/)
        expect(Date.now() - started).toBeLessThan(500)
      })
  )

  itScopedLive(
    "the Layer replaces HttpClient: call sites unchanged, refusals carried as a transport error",
    () =>
      Effect.gen(function*() {
        const dependency = yield* flakyServer()
        const url = `${dependency.url}/layer`
        dependency.state.mode = "fail"
        const Client = ResilientHttpClient.layer({ name: "layered", circuitBreaker: breakerOptions, retry: false })
          .pipe(
            Layer.provide(layerScoped(HttpClient.HttpClient, realClient))
          )
        // An existing program, written against HttpClient only.
        const program = Effect.gen(function*() {
          const results: Array<unknown> = []
          for (let i = 0; i < 5; i++) {
            results.push(
              yield* HttpClient.get(url).pipe(
                Effect.match({ onSuccess: (r): unknown => r.status, onFailure: (e): unknown => ({ error: e }) })
              )
            )
          }
          return results
        })
        const results = yield* program.pipe(Effect.provide(Client))
        expect(results.slice(0, 4)).toEqual([500, 500, 500, 500])
        const last = (results[4] as { error: unknown }).error
        // Effect 3: a `RequestError` (reason `Transport`); Effect 4: an `HttpClientError` with a `TransportError`.
        expect(isTransportFailure(last)).toBe(true)
        expect(Option.map(ResilientHttpClient.refusal(last), (e) => e._tag)).toEqual(
          Option.some("CallNotPermittedError")
        )
      })
  )

  // Needs undici: skipped on Effect 4 under Node < 22.19 (see `undiciLoads`).
  itScopedLive.skipIf(!undiciLoads)(
    "undici pool figures tell an exhausted pool apart, and metrics are labelled per target",
    () =>
      Effect.gen(function*() {
        const dependency = yield* flakyServer()
        const base = dependency.url
        dependency.state.mode = "slow"
        dependency.state.delayMillis = 80
        const context = yield* Layer.build(
          NodeResilientHttpClient.layer({ name: "pooled", retry: false, poolMetricsInterval: "10 millis" }, {
            connections: 1
          })
        )
        const client = Context.get(context, HttpClient.HttpClient)
        const resilience = Context.get(context, ResilientHttpClient.ResilientHttpClient)
        const calls = yield* forkChild(Effect.all([1, 2, 3].map(() => client.get(`${base}/pool`)), { concurrency: 3 }))
        yield* Effect.sleep("40 millis")
        const busy = yield* resilience.snapshot
        const pool = busy.pools.find((p) => p.origin === base)!
        expect(pool.connected).toBe(1)
        expect(pool.free).toBe(0)
        expect(pool.queued + pool.pending).toBeGreaterThanOrEqual(1)
        expect(busy.targets[0]!.pressures).toEqual(["pool-exhausted"])
        yield* Effect.sleep("30 millis")
        const queued = seriesValue(yield* resilience.series, "breakwater_http_client_pool_queued_requests", {
          client: "pooled",
          origin: base
        })
        expect(queued).toBeGreaterThanOrEqual(1)
        yield* Fiber.await(calls)
        const target = new URL(base).host
        const ok = seriesValue(yield* resilience.series, "breakwater_http_client_responses_total", {
          client: "pooled",
          target,
          code: "200"
        })
        expect(ok).toBe(3)
      })
  )

  itScopedLive(
    "targets are keyed and bounded: the least recently used idle one makes room",
    () =>
      Effect.gen(function*() {
        const dependency = yield* flakyServer()
        const base = dependency.url
        const { client, resilience } = yield* clientWith({
          name: "keyed",
          maxTargets: 2,
          key: (request) => new URL(request.url).pathname
        })
        yield* Effect.forEach(["/a", "/b", "/a", "/c", "/d"], (path) => client.get(`${base}${path}`))
        expect([...(yield* resilience.targets)].sort()).toEqual(["/c", "/d"])
        const snapshot = yield* resilience.snapshot
        expect(snapshot.targets.map((t) => t.responses)).toEqual([{ "200": 1 }, { "200": 1 }])
        expect(snapshot.oneCallTargets).toBe(0)
      })
  )

  it.effect("bad options fail with InvalidConfigError naming each field, nested guards included", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(ResilientHttpClient.make({
        name: "bad",
        attemptTimeout: "5 seconds",
        totalTimeout: "1 second",
        circuitBreaker: { failureRateThreshold: 150 }
      })))
      expect(error._tag).toBe("InvalidConfigError")
      const message = error.message
      expect(message).toContain("attemptTimeout")
      expect(message).toContain("circuitBreaker.failureRateThreshold")
      const other = yield* Effect.flip(Effect.scoped(ResilientHttpClient.make({
        name: "bad",
        retryStatuses: [700],
        retry: { maxAttempts: 0 }
      })))
      expect(other.message).toContain("retryStatuses.0 = 700")
      expect(other.message).toContain("retry.maxAttempts = 0")
    }))

  it("parseRetryAfter reads delta-seconds and HTTP-dates, and nothing else", () => {
    const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT")
    const millis = (o: Option.Option<Duration.Duration>) => Option.map(o, Duration.toMillis)
    expect(millis(ResilientHttpClient.parseRetryAfter("120", now))).toEqual(Option.some(120_000))
    expect(millis(ResilientHttpClient.parseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now))).toEqual(
      Option.some(30_000)
    )
    expect(millis(ResilientHttpClient.parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now))).toEqual(Option.some(0))
    for (const bad of ["", "-1", "1.5", "soon", "2015-10-21", "9".repeat(100), undefined]) {
      expect(ResilientHttpClient.parseRetryAfter(bad, now)).toEqual(Option.none())
    }
  })

  itScopedLive.skipIf(!undiciLoads)("poolStats reads an undici Agent", () =>
    Effect.gen(function*() {
      const agent = yield* makeAgent()
      expect(NodeResilientHttpClient.poolStats(agent)).toEqual([])
    }))
})
