import { counterFamily, gaugeFamily, histogramFamily, metricLabels, viewSeries } from "#port"
import { describe, expect, it } from "@effect/vitest"
import { PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import { emptyResource } from "@opentelemetry/resources"
import type { CollectionResult } from "@opentelemetry/sdk-metrics"
import { appendTo } from "../src/observability/internal/otelSeries.js"
import { SeriesGroup } from "../src/observability/internal/series.js"

// The metric port (src/port/effect{3,4}/metrics.ts) on both targets: the same series in, the same
// plain view and the same Prometheus text out, without any guard.
const requests = counterFamily("demo_requests", "Requests, by outcome")
const open = gaugeFamily("demo_open", "1 while open")
const seconds = histogramFamily("demo_seconds", "Durations", [0.1, 0.5, 1])

const emptyCollection = (): CollectionResult => ({
  resourceMetrics: { resource: emptyResource(), scopeMetrics: [{ scope: { name: "demo" }, metrics: [] }] },
  errors: []
})

const scenario = () => {
  const group = new SeriesGroup()
  const ok = metricLabels([["name", "payments"], ["kind", "successful"]])
  const failed = metricLabels([["name", "payments"], ["kind", "failed"]])
  const name = metricLabels([["name", "payments"]])
  group.update(requests, 3, ok)
  group.update(requests, 2, ok)
  group.update(requests, -7, ok) // a counter only grows
  group.update(requests, 0, failed) // exists from its first update
  group.update(open, 1, name)
  group.update(open, 0, name) // a gauge is set
  for (const value of [0.05, 0.3, 0.3, 2]) group.hook(seconds, ok).update(value)
  const pairs: Array<Parameters<typeof viewSeries>[0]> = []
  group.pairs(pairs)
  return pairs
}

describe("metrics port", () => {
  it("series read back the same on both targets", () => {
    const views = scenario().map(viewSeries)
    expect(views).toEqual([
      {
        name: "demo_requests",
        description: "Requests, by outcome",
        labels: [["name", "payments"], ["kind", "successful"]],
        type: "counter",
        value: 5
      },
      {
        name: "demo_requests",
        description: "Requests, by outcome",
        labels: [["name", "payments"], ["kind", "failed"]],
        type: "counter",
        value: 0
      },
      { name: "demo_open", description: "1 while open", labels: [["name", "payments"]], type: "gauge", value: 0 },
      {
        name: "demo_seconds",
        description: "Durations",
        labels: [["name", "payments"], ["kind", "successful"]],
        type: "histogram",
        buckets: [[0.1, 1], [0.5, 3], [1, 3], [Infinity, 4]],
        count: 4,
        min: 0.05,
        max: 2,
        sum: 2.65
      }
    ])
  })

  it("a series belongs to its group: another group starts empty", () => {
    const labels = metricLabels([["name", "other"]])
    const first = new SeriesGroup()
    const second = new SeriesGroup()
    first.update(requests, 4, labels)
    second.update(requests, 1, labels)
    const values = [first, second].map((group) => {
      const out: Array<Parameters<typeof viewSeries>[0]> = []
      group.pairs(out)
      return out.map(viewSeries).map((view) => view.type === "counter" ? view.value : undefined)
    })
    expect(values).toEqual([[4], [1]])
  })

  it("the OpenTelemetry exposition of the series is the same text on both targets", () => {
    const collection = emptyCollection()
    appendTo(collection, scenario(), 0)
    const text = new PrometheusSerializer(undefined, false, undefined, true, true).serialize(collection.resourceMetrics)
    expect(text).toBe(
      [
        "# HELP demo_requests_total Requests, by outcome",
        "# UNIT demo_requests_total 1",
        "# TYPE demo_requests_total counter",
        "demo_requests_total{name=\"payments\",kind=\"successful\"} 5",
        "demo_requests_total{name=\"payments\",kind=\"failed\"} 0",
        "# HELP demo_open 1 while open",
        "# UNIT demo_open 1",
        "# TYPE demo_open gauge",
        "demo_open{name=\"payments\"} 0",
        "# HELP demo_seconds Durations",
        "# UNIT demo_seconds 1",
        "# TYPE demo_seconds histogram",
        "demo_seconds_count{name=\"payments\",kind=\"successful\"} 4",
        "demo_seconds_sum{name=\"payments\",kind=\"successful\"} 2.65",
        "demo_seconds_bucket{name=\"payments\",kind=\"successful\",le=\"0.1\"} 1",
        "demo_seconds_bucket{name=\"payments\",kind=\"successful\",le=\"0.5\"} 3",
        "demo_seconds_bucket{name=\"payments\",kind=\"successful\",le=\"1\"} 3",
        "demo_seconds_bucket{name=\"payments\",kind=\"successful\",le=\"+Inf\"} 4",
        ""
      ].join("\n")
    )
  })
})
