/**
 * The inbound metrics: Effect `Metric`s labelled by policy and route, with a bound on distinct route
 * labels (later ones are `(other)`), updated synchronously.
 *
 * @internal
 */
import { exponentialHistogram, type MetricTags, metricTags, updateMetric } from "#port/httpServer"
import * as Metric from "effect/Metric"
import { LatencySample } from "../../core/latencySample.js"

export const requestDuration = exponentialHistogram(
  "breakwater_http_server_request_duration_seconds",
  "Time to answer each request, by policy and route",
  { start: 0.001, factor: 2, count: 16 }
)
export const responses = Metric.counter("breakwater_http_server_responses_total", {
  description: "Responses sent, by policy, route and status code",
  incremental: true
})
export const refusals = Metric.counter("breakwater_http_server_refusals_total", {
  description:
    "Requests refused, by policy, reason (rate_limited, shed, concurrency, body_timeout) and key class (ip, api-key, ...)",
  incremental: true
})

export const liveKeys = Metric.gauge("breakwater_http_server_live_keys", {
  description: "Keys (clients) with state in a rate-limit policy, as of its last request"
})

/** The policy's plain figures, for the snapshot's inbound edge: responses, refusals, recent latency. */
export class PolicyFigures {
  readonly responses = new Map<number, number>()
  readonly refusals = new Map<string, number>()
  /** The newest 1,024 requests' durations, in millis. */
  readonly recent = new LatencySample(1024)
  lastRefusalAt = Number.NEGATIVE_INFINITY

  record(status: number, seconds: number): void {
    // Bounded: at most the ~500 status codes there are.
    this.responses.set(status, (this.responses.get(status) ?? 0) + 1)
    this.recent.add(seconds * 1000)
  }

  refused(reason: string, at: number): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1)
    this.lastRefusalAt = at
  }
}

/** Why a request was refused. */
export type RefusalReason = "rate_limited" | "shed" | "concurrency" | "body_timeout"

export class RouteMetrics {
  private readonly byCode = new Map<number, MetricTags>()

  private readonly labels: MetricTags

  constructor(
    private readonly pairs: ReadonlyArray<readonly [string, string]>,
    private readonly figures: PolicyFigures
  ) {
    this.labels = metricTags(pairs)
  }

  record(status: number, seconds: number): void {
    this.figures.record(status, seconds)
    updateMetric(requestDuration, seconds, this.labels)
    let labels = this.byCode.get(status)
    if (labels === undefined) {
      labels = metricTags([...this.pairs, ["code", String(status)]])
      if (this.byCode.size < 100) this.byCode.set(status, labels)
    }
    updateMetric(responses, 1, labels)
  }
}

export class ServerMetrics {
  private readonly routes = new Map<string, RouteMetrics>()
  private readonly other: RouteMetrics
  private readonly refusalLabels = new Map<string, MetricTags>()
  private readonly policyLabels: MetricTags
  readonly figures = new PolicyFigures()

  constructor(readonly policy: string, readonly maxRoutes: number) {
    this.policyLabels = metricTags([["policy", policy]])
    this.other = this.make("(other)")
  }

  private make(route: string): RouteMetrics {
    return new RouteMetrics([["policy", this.policy], ["route", route]], this.figures)
  }

  private lastKeys = -1

  /** Sets the live-keys gauge; only on a change, since it is called on every request. */
  keys(count: number): void {
    if (count === this.lastKeys) return
    this.lastKeys = count
    updateMetric(liveKeys, count, this.policyLabels)
  }

  route(route: string): RouteMetrics {
    const known = this.routes.get(route)
    if (known !== undefined) return known
    if (this.routes.size >= this.maxRoutes || route.length > 200) return this.other
    const metrics = this.make(route)
    this.routes.set(route, metrics)
    return metrics
  }

  refused(reason: RefusalReason, keyClass: string, at: number): void {
    this.figures.refused(reason, at)
    const id = `${reason}/${keyClass}`
    let labels = this.refusalLabels.get(id)
    if (labels === undefined) {
      labels = metricTags([["policy", this.policy], ["reason", reason], ["key_class", keyClass]])
      this.refusalLabels.set(id, labels)
    }
    updateMetric(refusals, 1, labels)
  }
}
