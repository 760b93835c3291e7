/**
 * The outbound metrics, labelled by client and target (pools: client and origin). Their series belong
 * to the target (or the client's pool reading) and are dropped with it, so they are kept in
 * `SeriesGroup`s rather than in Effect's global registry (which never forgets a series); they are
 * updated synchronously through hooks found once per target. Plain counts feed the snapshot.
 *
 * @internal
 */
import {
  counterFamily,
  exponentialBounds,
  gaugeFamily,
  histogramFamily,
  type MetricLabels,
  metricLabels,
  type SeriesHook
} from "#port"
import { LatencySample } from "../../core/latencySample.js"
import { register, SeriesGroup, unregister } from "../../observability/internal/series.js"
import type { PoolFigures } from "./pool.js"

/** Seconds, 5 ms to ~80 s. */
const LATENCY_BOUNDARIES = exponentialBounds({ start: 0.005, factor: 2, count: 15 })

export const requestDuration = histogramFamily(
  "breakwater_http_client_request_duration_seconds",
  "Duration of each attempt, by client and target",
  LATENCY_BOUNDARIES
)
export const responses = counterFamily(
  "breakwater_http_client_responses_total",
  "Responses received, by client, target and status code"
)
export const failures = counterFamily(
  "breakwater_http_client_failures_total",
  "Attempts without a usable response, by client, target and reason (transport, timeout, pool_wait, invalid_body, body_too_large)"
)
export const refusals = counterFamily(
  "breakwater_http_client_refusals_total",
  "Calls refused before the network, by client, target and reason (circuit_open, rate_limited, paused, pool_exhausted)"
)
export const poolConnections = gaugeFamily(
  "breakwater_http_client_pool_connections",
  "Connections of an undici pool, by client, origin and state (busy, free)"
)
export const poolQueued = gaugeFamily(
  "breakwater_http_client_pool_queued_requests",
  "Requests waiting for a connection in an undici pool, by client and origin"
)

type RefusalKind = "circuitOpen" | "rateLimited" | "paused" | "poolExhausted"

const REFUSAL_LABEL: Record<RefusalKind, string> = {
  circuitOpen: "circuit_open",
  rateLimited: "rate_limited",
  paused: "paused",
  poolExhausted: "pool_exhausted"
}

/** Attempts whose durations the snapshot's percentiles are read from: the newest 1,024 (8 KiB). */
export const LATENCY_SAMPLE_SIZE = 1024

type Hook = SeriesHook

export class TargetMetrics {
  /** The target's series, exported while it is registered (see {@link TargetMetrics.register}). */
  readonly series = new SeriesGroup()
  inFlight = 0
  used = false
  transportCount = 0
  timeoutCount = 0
  poolWaitCount = 0
  invalidBodyCount = 0
  bodyTooLargeCount = 0
  circuitOpenCount = 0
  rateLimitedCount = 0
  pausedCount = 0
  poolExhaustedCount = 0
  /** The newest attempts' durations, in millis, for the snapshot's percentiles. */
  readonly recent = new LatencySample(LATENCY_SAMPLE_SIZE)
  private readonly byCode = new Map<number, { count: number; readonly hook: Hook }>()
  private readonly pairs: ReadonlyArray<readonly [string, string]>
  private readonly duration: Hook
  /** Failure and refusal series, made on first use (most targets never need most of them). */
  private readonly byReason = new Map<string, Hook>()

  constructor(client: string, target: string) {
    this.pairs = [["client", client], ["target", target]]
    this.duration = this.series.hook(requestDuration, metricLabels(this.pairs))
  }

  private reason(family: typeof failures, reason: string): Hook {
    const id = `${family === failures ? "failures" : "refusals"}/${reason}`
    let hook = this.byReason.get(id)
    if (hook === undefined) this.byReason.set(id, hook = this.series.hook(family, this.with("reason", reason)))
    return hook
  }

  private with(key: string, value: string): MetricLabels {
    return metricLabels([...this.pairs, [key, value]])
  }

  /** Exported by every `Prometheus.producer` until {@link unregister}. */
  register(): void {
    register(this.series)
  }

  unregister(): void {
    unregister(this.series)
  }

  latency(seconds: number): void {
    this.used = true
    this.duration.update(seconds)
    this.recent.add(seconds * 1000)
  }

  response(status: number, seconds: number): void {
    this.latency(seconds)
    let entry = this.byCode.get(status)
    if (entry === undefined) {
      entry = { count: 0, hook: this.series.hook(responses, this.with("code", String(status))) }
      this.byCode.set(status, entry)
    }
    entry.count++
    entry.hook.update(1)
  }

  transport(seconds: number): void {
    this.latency(seconds)
    this.transportCount++
    this.reason(failures, "transport").update(1)
  }

  timeout(seconds: number): void {
    this.latency(seconds)
    this.timeoutCount++
    this.reason(failures, "timeout").update(1)
  }

  /** An attempt that timed out waiting in the pool for a connection (never sent). */
  poolWait(seconds: number): void {
    this.latency(seconds)
    this.poolWaitCount++
    this.reason(failures, "pool_wait").update(1)
  }

  invalidBody(): void {
    this.invalidBodyCount++
    this.reason(failures, "invalid_body").update(1)
  }

  bodyTooLarge(): void {
    this.bodyTooLargeCount++
    this.reason(failures, "body_too_large").update(1)
  }

  refused(kind: RefusalKind): void {
    this.used = true
    this[`${kind}Count`]++
    this.reason(refusals, REFUSAL_LABEL[kind]).update(1)
  }

  responsesByCode(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [code, { count }] of this.byCode) out[String(code)] = count
    return out
  }
}

export class ClientMetrics {
  /** The last pool reading's series: origins no longer in the dispatcher disappear with the next one. */
  poolSeries: SeriesGroup | undefined

  constructor(readonly client: string) {}

  forTarget(target: string): TargetMetrics {
    return new TargetMetrics(this.client, target)
  }

  pools(pools: ReadonlyArray<PoolFigures>): void {
    const series = new SeriesGroup()
    for (const pool of pools) {
      const base = [["client", this.client], ["origin", pool.origin]] as const
      series.update(poolConnections, pool.busy, metricLabels([...base, ["state", "busy"]]))
      series.update(poolConnections, pool.free, metricLabels([...base, ["state", "free"]]))
      series.update(poolQueued, pool.queued + pool.pending, metricLabels(base))
    }
    this.close()
    this.poolSeries = series
    register(series)
  }

  /** Drops the pool series (the client is closing). */
  close(): void {
    if (this.poolSeries !== undefined) unregister(this.poolSeries)
    this.poolSeries = undefined
  }
}
