/**
 * The inbound metrics: Effect `Metric`s labelled by policy and route, with a bound on distinct route
 * labels (later ones are `(other)`), updated synchronously.
 *
 * @internal
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import { LatencySample } from "../../core/latencySample.js"

export const requestDuration = Metric.histogram(
  "breakwater_http_server_request_duration_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 16 }),
  "Time to answer each request, by policy and route"
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
  private readonly byCode = new Map<number, ReadonlyArray<MetricLabel.MetricLabel>>()

  constructor(
    private readonly labels: ReadonlyArray<MetricLabel.MetricLabel>,
    private readonly figures: PolicyFigures
  ) {}

  record(status: number, seconds: number): void {
    this.figures.record(status, seconds)
    requestDuration.unsafeUpdate(seconds, this.labels)
    let labels = this.byCode.get(status)
    if (labels === undefined) {
      labels = [...this.labels, MetricLabel.make("code", String(status))]
      if (this.byCode.size < 100) this.byCode.set(status, labels)
    }
    responses.unsafeUpdate(1, labels)
  }
}

export class ServerMetrics {
  private readonly routes = new Map<string, RouteMetrics>()
  private readonly other: RouteMetrics
  private readonly refusalLabels = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
  private readonly policyLabels: ReadonlyArray<MetricLabel.MetricLabel>
  readonly figures = new PolicyFigures()

  constructor(readonly policy: string, readonly maxRoutes: number) {
    this.policyLabels = [MetricLabel.make("policy", policy)]
    this.other = this.make("(other)")
  }

  private make(route: string): RouteMetrics {
    return new RouteMetrics(
      [MetricLabel.make("policy", this.policy), MetricLabel.make("route", route)],
      this.figures
    )
  }

  private lastKeys = -1

  /** Sets the live-keys gauge; only on a change, since it is called on every request. */
  keys(count: number): void {
    if (count === this.lastKeys) return
    this.lastKeys = count
    liveKeys.unsafeUpdate(count, this.policyLabels)
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
      labels = [
        MetricLabel.make("policy", this.policy),
        MetricLabel.make("reason", reason),
        MetricLabel.make("key_class", keyClass)
      ]
      this.refusalLabels.set(id, labels)
    }
    refusals.unsafeUpdate(1, labels)
  }
}
