/**
 * The resilient client against real sockets: real `@effect/platform-node` servers on 127.0.0.1 with
 * ephemeral ports and the real undici client layer. These tests use the REAL clock, so every wait is
 * kept tiny (tens of milliseconds); only the `Retry-After` tests wait ~1 s, the smallest delay the
 * header can express.
 */
import { HttpClient } from "@effect/platform"
import { NodeHttpClient, Undici } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, type MetricPair, MetricState, Option, Schema } from "effect"
import * as RetryBudget from "../../src/guards/RetryBudget.js"
import * as NodeResilientHttpClient from "../../src/http/NodeResilientHttpClient.js"
import * as ResilientHttpClient from "../../src/http/ResilientHttpClient.js"
import { flaky, serve } from "./servers.js"

const Widget = Schema.Struct({ id: Schema.Number, name: Schema.String })

/** A resilient client over the real undici client, in the test's scope. */
const clientWith = (options: ResilientHttpClient.Options) =>
  Effect.gen(function*() {
    const resilience = yield* ResilientHttpClient.make(options)
    // The real undici client, its dispatcher closed with the test's scope.
    const base = yield* Effect.provide(HttpClient.HttpClient, yield* Layer.build(NodeHttpClient.layerUndici))
    return { resilience, client: ResilientHttpClient.wrap(base, resilience) }
  })

const breakerOptions = {
  slidingWindowSize: 4,
  minimumNumberOfCalls: 4,
  waitDurationInOpenState: "50 millis",
  permittedNumberOfCallsInHalfOpenState: 1
} as const

/** The value of the series named `name` with exactly `labels` (a counter's count, a gauge's value). */
const seriesValue = (
  series: ReadonlyArray<MetricPair.MetricPair.Untyped>,
  name: string,
  labels: Record<string, string>
): number | undefined => {
  const found = series.find((s) =>
    s.metricKey.name === name && s.metricKey.tags.length === Object.keys(labels).length &&
    s.metricKey.tags.every((label) => labels[label.key] === label.value)
  )
  if (found === undefined) return undefined
  const state = found.metricState
  return MetricState.isCounterState(state)
    ? Number(state.count)
    : MetricState.isGaugeState(state)
    ? Number(state.value)
    : undefined
}

const statusOf = <E, R>(call: Effect.Effect<{ readonly status: number }, E, R>) =>
  Effect.map(Effect.either(call), (r) => r._tag === "Right" ? r.right.status : (r.left as { _tag: string })._tag)

describe("ResilientHttpClient (real sockets)", () => {
  it.scopedLive("the breaker opens on 5xx, refuses without sending, and recovers", () =>
    Effect.gen(function*() {
      const dependency = flaky()
      const url = `${yield* serve(dependency.app)}/items`
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

  it.scopedLive("4xx other than 408/429 are successes for the breaker", () =>
    Effect.gen(function*() {
      const dependency = flaky()
      const url = `${yield* serve(dependency.app)}/missing`
      const { client, resilience } = yield* clientWith({ name: "4xx", circuitBreaker: breakerOptions })
      dependency.state.mode = "client-error"
      yield* Effect.forEach([1, 2, 3, 4, 5], () => client.get(url))
      const [target] = (yield* resilience.snapshot).targets
      expect(target!.circuitState).toBe("Closed")
      expect(Option.getOrThrow(target!.circuitMetrics).numberOfFailedCalls).toBe(0)
      expect(dependency.state.hits).toBe(5) // and 404 is not retried
    }))

  it.scopedLive("429 with Retry-After pauses the target and delays the retry", () =>
    Effect.gen(function*() {
      const dependency = flaky()
      const url = `${yield* serve(dependency.app)}/quota`
      const { client, resilience } = yield* clientWith({
        name: "throttled",
        retry: { maxAttempts: 2, waitDuration: "10 millis" }
      })
      dependency.state.mode = "throttle-once"
      const started = Date.now()
      const fiber = yield* Effect.fork(client.get(url))
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
      const response = yield* fiber.await.pipe(Effect.flatten)
      expect(response.status).toBe(200)
      expect(Date.now() - started).toBeGreaterThanOrEqual(950) // waited Retry-After, not 10 ms
      expect(dependency.state.hits).toBe(2)
    }))

  it.scopedLive("503 with an HTTP-date Retry-After is honoured too", () =>
    Effect.gen(function*() {
      const dependency = flaky()
      const url = `${yield* serve(dependency.app)}/maintenance`
      const { client } = yield* clientWith({ name: "dated", retry: { maxAttempts: 2, waitDuration: "1 millis" } })
      dependency.state.mode = "unavailable-date-once"
      const started = Date.now()
      const response = yield* client.get(url)
      expect(response.status).toBe(200)
      expect(Date.now() - started).toBeGreaterThanOrEqual(300)
      expect(dependency.state.hits).toBe(2)
    }))

  it.scopedLive("a 200 with a bad body is a breaker failure, not retried; a good body stays readable", () =>
    Effect.gen(function*() {
      const dependency = flaky()
      const url = `${yield* serve(dependency.app)}/widget`
      const { client, resilience } = yield* clientWith({
        name: "validated",
        validate: Widget,
        retry: { maxAttempts: 3, waitDuration: "1 millis" }
      })
      const good = yield* client.get(url)
      expect(yield* good.json).toEqual({ id: 1, name: "widget" })

      dependency.state.mode = "bad-body"
      const error = yield* Effect.flip(client.get(url))
      expect(error._tag).toBe("ResponseError")
      expect((error as { reason: string }).reason).toBe("Decode")
      expect(dependency.state.hits).toBe(2) // one good call, one bad, no blind retry
      const [target] = (yield* resilience.snapshot).targets
      expect(Option.getOrThrow(target!.circuitMetrics).numberOfFailedCalls).toBe(1)
      expect(target!.failures.invalidBody).toBe(1)
    }))

  it.scopedLive("idempotent methods are retried, POST is not, and the budget can refuse retries", () =>
    Effect.gen(function*() {
      const dependency = flaky()
      const url = `${yield* serve(dependency.app)}/orders`
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
    }))

  it.scopedLive("attempt timeouts are failures and retried; the total timeout bounds the call", () =>
    Effect.gen(function*() {
      const dependency = flaky()
      const url = `${yield* serve(dependency.app)}/slow`
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
    }))

  it.scopedLive("the Layer replaces HttpClient: call sites unchanged, refusals carried as RequestError", () =>
    Effect.gen(function*() {
      const dependency = flaky()
      const url = `${yield* serve(dependency.app)}/layer`
      dependency.state.mode = "fail"
      const Client = ResilientHttpClient.layer({ name: "layered", circuitBreaker: breakerOptions, retry: false }).pipe(
        Layer.provide(NodeHttpClient.layerUndici)
      )
      // An existing program, written against HttpClient only.
      const program = Effect.gen(function*() {
        const results: Array<unknown> = []
        for (let i = 0; i < 5; i++) {
          results.push(yield* HttpClient.get(url).pipe(Effect.map((r) => r.status), Effect.either))
        }
        return results
      })
      const results = yield* program.pipe(Effect.provide(Client))
      expect(results.slice(0, 4).map((r) => (r as { right: number }).right)).toEqual([500, 500, 500, 500])
      const last = (results[4] as { left: unknown }).left
      expect((last as { _tag: string })._tag).toBe("RequestError")
      expect(Option.map(ResilientHttpClient.refusal(last), (e) => e._tag)).toEqual(Option.some("CallNotPermittedError"))
    }))

  it.scopedLive("undici pool figures tell an exhausted pool apart, and metrics are labelled per target", () =>
    Effect.gen(function*() {
      const dependency = flaky()
      const base = yield* serve(dependency.app)
      dependency.state.mode = "slow"
      dependency.state.delayMillis = 80
      const context = yield* Layer.build(
        NodeResilientHttpClient.layer({ name: "pooled", retry: false, poolMetricsInterval: "10 millis" }, {
          connections: 1
        })
      )
      const client = yield* Effect.provide(HttpClient.HttpClient, context)
      const resilience = yield* Effect.provide(ResilientHttpClient.ResilientHttpClient, context)
      const calls = yield* Effect.fork(Effect.all([1, 2, 3].map(() => client.get(`${base}/pool`)), { concurrency: 3 }))
      yield* Effect.sleep("40 millis")
      const busy = yield* resilience.snapshot
      const pool = busy.pools.find((p) => p.origin === base)!
      expect(pool.connected).toBe(1)
      expect(pool.free).toBe(0)
      expect(pool.queued + pool.pending).toBeGreaterThanOrEqual(1)
      expect(busy.targets[0]!.pressures).toEqual(["pool-exhausted"])
      yield* Effect.sleep("30 millis")
      const queued = seriesValue(yield* resilience.series, ResilientHttpClient.metrics.poolQueued.name, {
        client: "pooled",
        origin: base
      })
      expect(queued).toBeGreaterThanOrEqual(1)
      yield* calls.await
      const target = new URL(base).host
      const ok = seriesValue(yield* resilience.series, ResilientHttpClient.metrics.responses.name, {
        client: "pooled",
        target,
        code: "200"
      })
      expect(ok).toBe(3)
    }))

  it.scopedLive("targets are keyed and bounded: the least recently used idle one makes room", () =>
    Effect.gen(function*() {
      const dependency = flaky()
      const base = yield* serve(dependency.app)
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
    }))

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

  it("poolStats reads an undici Agent", () => {
    const agent = new Undici.Agent()
    expect(NodeResilientHttpClient.poolStats(agent)).toEqual([])
    void agent.close()
  })
})
