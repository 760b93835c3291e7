/**
 * Issue 15, item 2: metric series are bounded by live guards. Targets churn through a client with
 * `maxTargets` 50 and expire after 2 s idle: the Prometheus exposition never holds more than the live
 * targets' series, and once they expire it is back to what it was before the first call, as are the
 * collector's guards and the registered series groups (what would keep them in the heap).
 *
 * REAL clock (bounded: one 2.6 s wait for the time to live): under TestClock every finished call
 * leaves its timeout's sleep in the TestClock's queue, and waking thousands of them took minutes.
 * A new target with every guard costs ~2-9 ms on a loaded 2-core machine (each guard's options are
 * decoded), so the suite churns 1,000 targets (20 times the table); `CHURN_TARGETS=10000` runs the
 * issue's 10,000 with the same assertions.
 */
import { viewSeries } from "#port"
import { HttpClient, HttpClientResponse } from "#port/httpClient"
import { itScopedLive } from "#test-port"
import { describe, expect } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as ResilientHttpClient from "../../src/http/ResilientHttpClient.js"
import { liveGroups } from "../../src/observability/internal/series.js"
import * as Metrics from "../../src/observability/Metrics.js"
import * as Prometheus from "../../src/observability/Prometheus.js"
import * as Registry from "../../src/registry/Registry.js"

const Live = Prometheus.layer().pipe(Layer.provideMerge(Metrics.layer()), Layer.provideMerge(Registry.layer()))

/** Every third target fails with 500, so that breakers and failure series are busy too. */
const dependency = HttpClient.make((request) =>
  Effect.succeed(
    HttpClientResponse.fromWeb(
      request,
      new Response("x", { status: Number(/t(\d+)/.exec(request.url)?.[1] ?? 0) % 3 === 0 ? 500 : 200 })
    )
  )
)

const CHURN = Number(process.env.CHURN_TARGETS ?? 1000)

/** The series of an exposition (names and labels, values left out), Effect's own runtime metrics aside. */
const seriesOf = (text: string) =>
  text.split("\n")
    .filter((line) => line.length > 0 && !line.startsWith("#") && !line.startsWith("effect_"))
    .map((line) => line.slice(0, line.lastIndexOf(" ")))

const test = Effect.gen(function*() {
  const resilience = yield* ResilientHttpClient.make({
    name: "churn",
    maxTargets: 50,
    idleTimeToLive: "2 seconds",
    retry: false
  })
  const client = ResilientHttpClient.wrap(dependency, resilience)
  const collector = yield* Metrics.Collector
  const baseline = yield* Prometheus.scrape
  const baselineGroups = liveGroups()

  let peakSeries = 0
  let peakBytes = 0
  for (let batch = 0; batch < 10; batch++) {
    const size = CHURN / 10
    yield* Effect.forEach(
      Array.from({ length: size }, (_, i) => batch * size + i),
      (i) => Effect.exit(client.get(`http://t${i}.test/`)),
      { discard: true }
    )
    const text = yield* Prometheus.scrape
    peakSeries = Math.max(peakSeries, seriesOf(text).length - seriesOf(baseline).length)
    peakBytes = Math.max(peakBytes, text.length - baseline.length)
    expect((yield* resilience.targets).length).toBe(50)
  }
  // About 60 series per live target (histogram buckets included), however many came and went.
  expect(peakSeries / 50).toBeLessThan(100)
  expect(peakBytes).toBeLessThan(50 * 100 * 200) // < 100 lines of < 200 bytes per live target
  const live = yield* Prometheus.scrape
  expect(live).toContain(`target="t${CHURN - 1}.test"`)
  expect(live).not.toContain(`target="t0.test"`) // evicted long ago: gone
  expect(live).not.toContain(`name="churn:t0.test"`)

  // All idle past their time to live: everything of theirs is gone.
  yield* Effect.sleep("2600 millis") // the time to live and one sweep (a quarter of it)
  expect(yield* resilience.targets).toEqual([])
  const after = yield* Prometheus.scrape
  expect(seriesOf(after)).toEqual(seriesOf(baseline))
  expect(after).not.toContain("churn")
  expect((yield* collector.guards).filter((g) => g.name.startsWith("churn:"))).toEqual([])
  expect(liveGroups()).toBe(baselineGroups)
  const ours = (yield* collector.series).filter((s) =>
    viewSeries(s).labels.some(([, value]) => value.startsWith("churn"))
  )
  expect(ours).toEqual([])
  console.log(
    `churned ${CHURN} targets: peak ${peakSeries} series / ${peakBytes} bytes over the baseline ` +
      `(${seriesOf(baseline).length} series); heap ${Math.round(process.memoryUsage().heapUsed / 1e6)} MB`
  )
}).pipe(Effect.provide(Live))

describe("HTTP client series", () => {
  itScopedLive(`${CHURN} targets churned: series bounded by live targets, back to baseline once expired`, () => test, {
    timeout: Math.max(30_000, CHURN * 20)
  })
})
