/**
 * The outbound metrics: Effect `Metric`s labelled by client and target, updated synchronously (label
 * arrays are built once per target), plus plain counts for the snapshot.
 *
 * @internal
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import type { PoolFigures } from "./pool.js"

/** Seconds, 5 ms to ~80 s. */
const LATENCY_BOUNDARIES = MetricBoundaries.exponential({ start: 0.005, factor: 2, count: 15 })

export const requestDuration = Metric.histogram(
  "breakwater_http_client_request_duration_seconds",
  LATENCY_BOUNDARIES,
  "Duration of each attempt, by client and target"
)
export const responses = Metric.counter("breakwater_http_client_responses_total", {
  description: "Responses received, by client, target and status code",
  incremental: true
})
export const failures = Metric.counter("breakwater_http_client_failures_total", {
  description:
    "Attempts without a usable response, by client, target and reason (transport, timeout, invalid_body, body_too_large)",
  incremental: true
})
export const refusals = Metric.counter("breakwater_http_client_refusals_total", {
  description: "Calls refused before the network, by client, target and reason (circuit_open, rate_limited, paused)",
  incremental: true
})
export const poolConnections = Metric.gauge("breakwater_http_client_pool_connections", {
  description: "Connections of an undici pool, by client, origin and state (busy, free)"
})
export const poolQueued = Metric.gauge("breakwater_http_client_pool_queued_requests", {
  description: "Requests waiting for a connection in an undici pool, by client and origin"
})

type RefusalKind = "circuitOpen" | "rateLimited" | "paused"

const REFUSAL_LABEL: Record<RefusalKind, string> = {
  circuitOpen: "circuit_open",
  rateLimited: "rate_limited",
  paused: "paused"
}

export class TargetMetrics {
  inFlight = 0
  used = false
  transportCount = 0
  timeoutCount = 0
  invalidBodyCount = 0
  bodyTooLargeCount = 0
  circuitOpenCount = 0
  rateLimitedCount = 0
  pausedCount = 0
  private readonly byCode = new Map<
    number,
    { count: number; readonly labels: ReadonlyArray<MetricLabel.MetricLabel> }
  >()
  private readonly labels: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly transportLabels: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly timeoutLabels: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly invalidBodyLabels: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly bodyTooLargeLabels: ReadonlyArray<MetricLabel.MetricLabel>

  constructor(client: string, target: string) {
    this.labels = [MetricLabel.make("client", client), MetricLabel.make("target", target)]
    this.transportLabels = this.with("reason", "transport")
    this.timeoutLabels = this.with("reason", "timeout")
    this.invalidBodyLabels = this.with("reason", "invalid_body")
    this.bodyTooLargeLabels = this.with("reason", "body_too_large")
  }

  private with(key: string, value: string) {
    return [...this.labels, MetricLabel.make(key, value)]
  }

  latency(seconds: number): void {
    this.used = true
    requestDuration.unsafeUpdate(seconds, this.labels)
  }

  response(status: number, seconds: number): void {
    this.latency(seconds)
    let entry = this.byCode.get(status)
    if (entry === undefined) {
      entry = { count: 0, labels: this.with("code", String(status)) }
      this.byCode.set(status, entry)
    }
    entry.count++
    responses.unsafeUpdate(1, entry.labels)
  }

  transport(seconds: number): void {
    this.latency(seconds)
    this.transportCount++
    failures.unsafeUpdate(1, this.transportLabels)
  }

  timeout(seconds: number): void {
    this.latency(seconds)
    this.timeoutCount++
    failures.unsafeUpdate(1, this.timeoutLabels)
  }

  invalidBody(): void {
    this.invalidBodyCount++
    failures.unsafeUpdate(1, this.invalidBodyLabels)
  }

  bodyTooLarge(): void {
    this.bodyTooLargeCount++
    failures.unsafeUpdate(1, this.bodyTooLargeLabels)
  }

  refused(kind: RefusalKind): void {
    this.used = true
    this[`${kind}Count`]++
    refusals.unsafeUpdate(1, this.with("reason", REFUSAL_LABEL[kind]))
  }

  responsesByCode(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [code, { count }] of this.byCode) out[String(code)] = count
    return out
  }
}

export class ClientMetrics {
  constructor(readonly client: string) {}

  forTarget(target: string): TargetMetrics {
    return new TargetMetrics(this.client, target)
  }

  pools(pools: ReadonlyArray<PoolFigures>): void {
    for (const pool of pools) {
      const base = [MetricLabel.make("client", this.client), MetricLabel.make("origin", pool.origin)]
      poolConnections.unsafeUpdate(pool.busy, [...base, MetricLabel.make("state", "busy")])
      poolConnections.unsafeUpdate(pool.free, [...base, MetricLabel.make("state", "free")])
      poolQueued.unsafeUpdate(pool.queued + pool.pending, base)
    }
  }
}
