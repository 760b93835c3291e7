/**
 * Every guard's figures as Effect `Metric`s, with Resilience4j's Micrometer names under a prefix
 * (`breakwater` by default, `resilience4j` for existing dashboards), brought up to date on read.
 *
 * The guards keep plain cumulative counters that their synchronous handlers bump (nothing per call
 * touches a `Metric`). A {@link Collector} turns them into metrics when someone reads: it sets the
 * gauges from the guards' current state, adds to each counter what the guard counted since the last
 * collection, and replays new call durations into the histogram. `Prometheus.producer` (`breakwater/Prometheus`) hands the metrics
 * to an OpenTelemetry `MetricReader` and collects first, so every scrape is exact at that moment (a
 * scrape right after a transition shows the new state); see `Prometheus` for the `/metrics` text.
 *
 * | metric (prefix `breakwater`) | type | labels |
 * |---|---|---|
 * | `breakwater_circuitbreaker_state` | gauge (1 for the current state, 0 for the others) | name, state |
 * | `breakwater_circuitbreaker_calls_seconds` | histogram of call durations | name, kind = successful, failed, ignored |
 * | `breakwater_circuitbreaker_not_permitted_calls_total` | counter | name |
 * | `breakwater_circuitbreaker_failure_rate`, `..._slow_call_rate` | gauge (-1 below the minimum calls) | name |
 * | `breakwater_circuitbreaker_buffered_calls`, `..._slow_calls` | gauge | name, kind = successful, failed |
 * | `breakwater_circuitbreaker_store_outages_total` | counter (breakers sharing a `Store` only: times the store was lost) | name |
 * | `breakwater_circuitbreaker_store_unavailable_calls_total` | counter (breakers sharing a `Store` only: calls decided without it) | name, mode = local-fallback, fail-open, fail-closed |
 * | `breakwater_circuitbreaker_store_available` | gauge (breakers sharing a `Store` only: 1 while it answers) | name |
 * | `breakwater_circuitbreaker_store_settings_mismatches_total` | counter (breakers sharing a `Store` only: operations evaluated under another instance's settings) | name |
 * | `breakwater_circuitbreaker_store_states_discarded_total` | counter (breakers sharing a `Store` only: stored state that did not parse, discarded as lost) | name |
 * | `breakwater_ratelimiter_available_permissions`, `..._waiting_threads` | gauge | name |
 * | `breakwater_ratelimiter_calls_total` | counter | name, kind = successful, failed |
 * | `breakwater_ratelimiter_store_outages_total` | counter (limiters sharing a `Store` only: times the store was lost) | name |
 * | `breakwater_ratelimiter_store_unavailable_calls_total` | counter (limiters sharing a `Store` only: calls decided without it) | name, mode = local-fallback, fail-open, fail-closed |
 * | `breakwater_ratelimiter_store_available` | gauge (limiters sharing a `Store` only: 1 while it answers) | name |
 * | `breakwater_ratelimiter_store_settings_mismatches_total` | counter (limiters sharing a `Store` only: calls decided under another instance's settings) | name |
 * | `breakwater_ratelimiter_store_states_discarded_total` | counter (limiters sharing a `Store` only: stored state that did not parse, discarded as lost) | name |
 * | `breakwater_bulkhead_available_concurrent_calls`, `..._max_allowed_concurrent_calls` | gauge | name |
 * | `breakwater_bulkhead_rejected_calls_total` | counter | name |
 * | `breakwater_retry_calls_total` | counter | name, kind = successful_without_retry, successful_with_retry, failed_without_retry, failed_with_retry |
 * | `breakwater_retry_budget_refusals_total` | counter | name |
 * | `breakwater_timelimiter_calls_total` | counter | name, kind = successful, failed, timeout |
 * | `breakwater_adaptivelimiter_limit`, `..._in_flight_calls`, `..._waiting_calls` | gauge | name |
 * | `breakwater_adaptivelimiter_no_load_latency_seconds` | gauge (-1 before the first window) | name |
 * | `breakwater_adaptivelimiter_rejected_calls_total` | counter | name |
 * | `breakwater_adaptivethrottler_rejection_probability` | gauge | name |
 * | `breakwater_adaptivethrottler_calls_total` | counter | name, kind = accepted, rejected, throttled |
 * | `breakwater_hedge_calls_total` | counter | name |
 * | `breakwater_hedge_attempts_total` | counter | name, kind = started, won, refused_by_budget |
 * | `breakwater_hedge_delay_seconds` | gauge | name |
 *
 * ## When to use
 * Whenever guards run in production: give the collector the `Registry` that creates them (or
 * {@link Collector.track} a guard built on its own), and export with `Prometheus` or any
 * OpenTelemetry reader through `Prometheus.producer` (`breakwater/Prometheus`).
 *
 * ## Gotchas
 * - A guard's series live as long as the guard is collected: a guard whose {@link Collector.track}
 *   scope closed (an expired HTTP target) leaves the exposition and the heap at once (Resilience4j's
 *   binders remove their meters the same way); a `Registry`'s guards (it has no remove operation) live
 *   as long as the `Registry` itself. So the series are not
 *   in Effect's global metric registry, which can never forget one: read them through
 *   `Prometheus.producer` (`breakwater/Prometheus`, any OpenTelemetry reader) or {@link Collector.series}, not
 *   `Metric.snapshot`.
 * - Each collector owns its series: two collectors of the same guard export the same series twice.
 *   Give each guard of a kind a distinct name.
 * - Metrics only move when collected: `Prometheus.producer` and {@link Collector.series} collect first;
 *   `collectEvery` adds a background refresh.
 * - The duration histogram is rebuilt from fixed buckets (Prometheus' defaults, 5 ms to 10 s) with
 *   exact counts and sums; a collection replays each new call into Effect's histogram state (Effect 3
 *   has no bulk update), so its cost grows with the calls since the previous collection (~20 ns each).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Metrics, Registry } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const registry = yield* Registry.make()
 *     const collector = yield* Metrics.make({ registry, prefix: "resilience4j" })
 *     const breaker = yield* registry.circuitBreaker("payments")
 *     yield* breaker.transitionToOpen
 *     return yield* collector.series // ... resilience4j_circuitbreaker_state{name="payments",state="open"} = 1
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import {
  type CounterFamily,
  type DurationInput,
  layerScoped,
  type MetricLabels,
  metricLabels,
  type SeriesSnapshot,
  serviceKey
} from "#port"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as AdaptiveLimiter from "../guards/AdaptiveLimiter.js"
import type * as AdaptiveThrottler from "../guards/AdaptiveThrottler.js"
import type * as Bulkhead from "../guards/Bulkhead.js"
import type * as CircuitBreaker from "../guards/CircuitBreaker.js"
import type * as Hedge from "../guards/Hedge.js"
import {
  breakerFields,
  bulkheadFields,
  limiterFields,
  readNow,
  timeLimiterFields
} from "../guards/internal/guardInternals.js"
import type * as RateLimiter from "../guards/RateLimiter.js"
import type * as Retry from "../guards/Retry.js"
import type * as TimeLimiter from "../guards/TimeLimiter.js"
import { type Guard, Registry } from "../registry/Registry.js"
import { CALL_KINDS, DURATION_BOUNDS_MILLIS, DURATION_BUCKETS } from "../shared/internal/observe.js"
import { type Definitions, definitions, retryKinds, stateLabels } from "./internal/metricDefinitions.js"
import { livePairs, SeriesGroup } from "./internal/series.js"

/**
 * Options of a {@link Collector}.
 *
 * @example
 * ```ts
 * import type { Metrics } from "breakwater"
 *
 * const options: Metrics.Options = { prefix: "resilience4j", collectEvery: "10 seconds" }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  /** The metric names' first word. Default `"breakwater"`; `"resilience4j"` for Resilience4j dashboards. */
  readonly prefix?: string
  /** Also collect on a timer, for readers that do not go through `Prometheus.producer` (`breakwater/Prometheus`). Default: never. */
  readonly collectEvery?: DurationInput
}

/**
 * Brings the guards' metrics up to date when read.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Metrics } from "breakwater"
 *
 * const refresh = Effect.flatMap(Metrics.Collector, (collector) => collector.collect)
 * ```
 *
 * @since 0.1.0
 */
export interface Collector {
  readonly prefix: string
  /** Sets every gauge and adds every counter's news, now. */
  readonly collect: Effect.Effect<void>
  /** The same, synchronously (for an OpenTelemetry producer). */
  readonly unsafeCollect: () => void
  /** The guards collected: the registry's, then the tracked ones. */
  readonly guards: Effect.Effect<ReadonlyArray<Guard>>
  /**
   * Collects `guard` too (one not made by the registry) for as long as the current scope lasts. When
   * the scope closes, the guard's series are removed (from the exposition and the heap).
   */
  readonly track: (guard: Guard) => Effect.Effect<void, never, Scope.Scope>
  /**
   * Every live series, collected now: the collected guards', then those of the live HTTP client
   * targets and pools. What `Prometheus.producer` exports besides Effect's own metrics.
   */
  readonly series: Effect.Effect<ReadonlyArray<SeriesSnapshot>>
  /** The guards' series as last collected (for an OpenTelemetry producer). */
  readonly unsafeSeries: () => Array<SeriesSnapshot>
}

/**
 * The collector as a service.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Metrics } from "breakwater"
 *
 * const program = Effect.flatMap(Metrics.Collector, (collector) => collector.collect)
 * ```
 *
 * @since 0.1.0
 */
export const Collector = serviceKey<Collector>("breakwater/Metrics/Collector")

/**
 * One guard's series (dropped with the guard), and what was last added to its counters so that the
 * next collection adds only the news.
 */
class Seen extends SeriesGroup {
  readonly counters = new Map<string, number>()
  /**
   * Each series' labels, built once: a group finds a series by the identity of its labels, so
   * reusing them makes every later update a cache hit.
   */
  private readonly labels = new Map<string, Tags>()
  readonly timingCounts = new Float64Array(CALL_KINDS.length * DURATION_BUCKETS)
  readonly timingSums = new Float64Array(CALL_KINDS.length * DURATION_BUCKETS)

  constructor(readonly name: string) {
    super()
  }

  /** The series' labels: `name`, plus `key="value"` when given. */
  tags(key?: string, value?: string): Tags {
    const id = key === undefined ? "" : `${key}=${value}`
    let tags = this.labels.get(id)
    if (tags === undefined) {
      tags = key === undefined || value === undefined
        ? metricLabels([["name", this.name]])
        : metricLabels([["name", this.name], [key, value]])
      this.labels.set(id, tags)
    }
    return tags
  }

  /** The increase of a cumulative `total` since the last call with this `key`. */
  delta(key: string, total: number): number {
    const last = this.counters.get(key) ?? 0
    this.counters.set(key, total)
    return total - last
  }
}

class CollectorImpl implements Collector {
  private readonly metrics: Definitions
  private readonly seen = new WeakMap<Guard, Seen>()
  private readonly tracked = new Set<Guard>()

  constructor(readonly prefix: string, private readonly registry: Registry | undefined) {
    this.metrics = definitions(prefix)
  }

  readonly guards: Effect.Effect<ReadonlyArray<Guard>> = Effect.sync(() => this.listGuards())

  private listGuards(): ReadonlyArray<Guard> {
    const fromRegistry = this.registry === undefined ? [] : readNow(this.registry.guards) ?? []
    if (this.tracked.size === 0) return fromRegistry
    const all = new Set(fromRegistry)
    for (const guard of this.tracked) all.add(guard)
    return Array.from(all)
  }

  readonly track = (guard: Guard): Effect.Effect<void, never, Scope.Scope> =>
    Effect.acquireRelease(Effect.sync(() => this.tracked.add(guard)), () =>
      Effect.sync(() => {
        this.tracked.delete(guard)
        // Its series go with it, unless the registry still holds the guard.
        if (this.registry === undefined || !(readNow(this.registry.guards) ?? []).includes(guard)) {
          this.seen.delete(guard)
        }
      })).pipe(Effect.asVoid)

  readonly unsafeSeries = (): Array<SeriesSnapshot> => {
    const out: Array<SeriesSnapshot> = []
    for (const guard of this.listGuards()) this.seen.get(guard)?.pairs(out)
    return out
  }

  readonly series: Effect.Effect<ReadonlyArray<SeriesSnapshot>> = Effect.sync(() => {
    this.unsafeCollect()
    return livePairs(this.unsafeSeries())
  })

  readonly unsafeCollect = (): void => {
    for (const guard of this.listGuards()) this.collectGuard(guard)
  }

  private collectGuard(guard: Guard): Seen {
    let seen = this.seen.get(guard)
    if (seen === undefined) this.seen.set(guard, seen = new Seen(guard.name))
    switch (guard.kind) {
      case "CircuitBreaker":
        this.collectBreaker(guard, seen)
        break
      case "RateLimiter":
        this.collectLimiter(guard, seen)
        break
      case "Bulkhead":
        this.collectBulkhead(guard, seen)
        break
      case "TimeLimiter":
        this.collectTimeLimiter(guard, seen)
        break
      case "Retry":
        this.collectRetry(guard, seen)
        break
      case "AdaptiveLimiter":
        this.collectAdaptiveLimiter(guard, seen)
        break
      case "AdaptiveThrottler":
        this.collectThrottler(guard, seen)
        break
      case "Hedge":
        this.collectHedge(guard, seen)
        break
    }
    return seen
  }

  readonly collect: Effect.Effect<void> = Effect.sync(this.unsafeCollect)

  private add(metric: CounterFamily, seen: Seen, key: string, total: number, tags: Tags) {
    // Updated even by 0, so that every series exists from the first collection.
    seen.update(metric, Math.max(0, seen.delta(key, total)), tags)
  }

  private collectBreaker(breaker: CircuitBreaker.CircuitBreaker<any, any>, seen: Seen) {
    const m = this.metrics
    const fields = breakerFields(breaker)
    const state = readNow(breaker.state)
    for (const [value, text] of stateLabels) {
      seen.update(m.breakerState, state === value ? 1 : 0, seen.tags("state", text))
    }
    const window = readNow(breaker.metrics)
    if (window !== undefined) {
      seen.update(m.failureRate, window.failureRate, seen.tags())
      seen.update(m.slowCallRate, window.slowCallRate, seen.tags())
      seen.update(m.bufferedCalls, window.numberOfSuccessfulCalls, seen.tags("kind", "successful"))
      seen.update(m.bufferedCalls, window.numberOfFailedCalls, seen.tags("kind", "failed"))
      seen.update(m.slowCalls, window.numberOfSlowSuccessfulCalls, seen.tags("kind", "successful"))
      seen.update(m.slowCalls, window.numberOfSlowFailedCalls, seen.tags("kind", "failed"))
    }
    this.add(m.notPermitted, seen, "notPermitted", fields.notPermittedCalls, seen.tags())
    // Only breakers sharing their state through a Store have outages (and the series).
    if (fields.storeOutages !== undefined) {
      this.add(m.breakerStoreOutages, seen, "storeOutages", fields.storeOutages, seen.tags())
      for (const [mode, calls] of Object.entries(fields.storeUnavailableCalls ?? {})) {
        this.add(m.breakerStoreUnavailableCalls, seen, `storeUnavailable:${mode}`, calls, seen.tags("mode", mode))
      }
      seen.update(m.breakerStoreAvailable, fields.outage === true ? 0 : 1, seen.tags())
      this.add(m.breakerSettingsMismatches, seen, "settingsMismatches", fields.settingsMismatches ?? 0, seen.tags())
      this.add(m.breakerStatesDiscarded, seen, "statesDiscarded", fields.statesDiscarded ?? 0, seen.tags())
    }
    // Replay the new calls of each bucket at their mean duration: counts, buckets and sum stay exact.
    const timings = fields.calls
    for (let kind = 0; kind < CALL_KINDS.length; kind++) {
      const tags = seen.tags("kind", CALL_KINDS[kind]!)
      const hook = seen.hook(m.breakerCalls, tags) // every kind's series exists from the first collection
      for (let bucket = 0; bucket < DURATION_BUCKETS; bucket++) {
        const slot = kind * DURATION_BUCKETS + bucket
        const count = timings.count(slot)
        const calls = count - seen.timingCounts[slot]!
        if (calls <= 0) continue
        const sum = timings.sum(slot)
        const mean = (sum - seen.timingSums[slot]!) / calls
        const seconds = withinBucket(bucket, mean) / 1000
        for (let i = 0; i < calls; i++) hook.update(seconds)
        seen.timingCounts[slot] = count
        seen.timingSums[slot] = sum
      }
    }
  }

  private collectLimiter(limiter: RateLimiter.RateLimiter, seen: Seen) {
    const m = this.metrics
    const fields = limiterFields(limiter)
    // A shared limiter's figures take a round trip: the read started here lands for the next collection.
    const now = readNow(limiter.metrics) ?? fields.lastMetrics
    if (now !== undefined) {
      seen.update(m.availablePermissions, now.availablePermissions, seen.tags())
      seen.update(m.waitingThreads, now.numberOfWaitingFibers, seen.tags())
    }
    this.add(m.limiterCalls, seen, "successful", fields.successfulAcquires, seen.tags("kind", "successful"))
    this.add(m.limiterCalls, seen, "failed", fields.failedAcquires, seen.tags("kind", "failed"))
    // Only limiters sharing their state through a Store have outages (and the series).
    if (fields.storeUnavailableCalls !== undefined) {
      this.add(m.limiterStoreOutages, seen, "storeOutages", fields.storeOutages ?? 0, seen.tags())
      for (const [mode, calls] of Object.entries(fields.storeUnavailableCalls)) {
        this.add(m.limiterStoreUnavailableCalls, seen, `storeUnavailable:${mode}`, calls, seen.tags("mode", mode))
      }
      seen.update(m.limiterStoreAvailable, fields.outage === true ? 0 : 1, seen.tags())
      this.add(m.limiterSettingsMismatches, seen, "settingsMismatches", fields.settingsMismatches ?? 0, seen.tags())
      this.add(m.limiterStatesDiscarded, seen, "statesDiscarded", fields.statesDiscarded ?? 0, seen.tags())
    }
  }

  private collectBulkhead(bulkhead: Bulkhead.Bulkhead, seen: Seen) {
    const m = this.metrics
    const now = readNow(bulkhead.metrics)
    if (now !== undefined) {
      seen.update(m.availableConcurrentCalls, now.availableConcurrentCalls, seen.tags())
      seen.update(m.maxAllowedConcurrentCalls, now.maxAllowedConcurrentCalls, seen.tags())
    }
    this.add(m.bulkheadRejected, seen, "rejected", bulkheadFields(bulkhead).rejectedCalls, seen.tags())
  }

  private collectTimeLimiter(limiter: TimeLimiter.TimeLimiter, seen: Seen) {
    const m = this.metrics
    const fields = timeLimiterFields(limiter)
    this.add(m.timeLimiterCalls, seen, "successful", fields.successfulCalls, seen.tags("kind", "successful"))
    this.add(m.timeLimiterCalls, seen, "failed", fields.failedCalls, seen.tags("kind", "failed"))
    this.add(m.timeLimiterCalls, seen, "timeout", fields.timeouts, seen.tags("kind", "timeout"))
  }

  private collectRetry(retry: Retry.Retry<any, any>, seen: Seen) {
    const m = this.metrics
    const now = readNow(retry.metrics)
    if (now === undefined) return
    for (const [field, kind] of retryKinds) {
      this.add(m.retryCalls, seen, kind, now[field], seen.tags("kind", kind))
    }
    this.add(m.budgetRefusals, seen, "budget", now.numberOfRetriesRefusedByBudget, seen.tags())
  }

  private collectAdaptiveLimiter(limiter: AdaptiveLimiter.AdaptiveLimiter, seen: Seen) {
    const m = this.metrics
    const now = readNow(limiter.metrics)
    if (now === undefined) return
    seen.update(m.adaptiveLimit, now.limit, seen.tags())
    seen.update(m.adaptiveInFlight, now.inFlight, seen.tags())
    seen.update(m.adaptiveWaiting, now.waiting, seen.tags())
    const noLoad = now.noLoadLatencyMillis < 0 ? -1 : now.noLoadLatencyMillis / 1000
    seen.update(m.adaptiveNoLoad, noLoad, seen.tags())
    this.add(m.adaptiveRejected, seen, "rejected", now.rejectedCalls, seen.tags())
  }

  private collectThrottler(throttler: AdaptiveThrottler.AdaptiveThrottler, seen: Seen) {
    const m = this.metrics
    const now = readNow(throttler.metrics)
    if (now === undefined) return
    seen.update(m.throttleProbability, now.rejectionProbability, seen.tags())
    const accepted = now.sentCalls - now.rejectedCalls
    this.add(m.throttlerCalls, seen, "accepted", accepted, seen.tags("kind", "accepted"))
    this.add(m.throttlerCalls, seen, "rejected", now.rejectedCalls, seen.tags("kind", "rejected"))
    this.add(m.throttlerCalls, seen, "throttled", now.throttledCalls, seen.tags("kind", "throttled"))
  }

  private collectHedge(hedge: Hedge.Hedge, seen: Seen) {
    const m = this.metrics
    const now = readNow(hedge.metrics)
    if (now === undefined) return
    seen.update(m.hedgeDelay, now.delayMillis / 1000, seen.tags())
    this.add(m.hedgeCalls, seen, "calls", now.calls, seen.tags())
    this.add(m.hedgeAttempts, seen, "started", now.hedgesStarted, seen.tags("kind", "started"))
    this.add(m.hedgeAttempts, seen, "won", now.hedgesWon, seen.tags("kind", "won"))
    this.add(m.hedgeAttempts, seen, "refused", now.hedgesRefusedByBudget, seen.tags("kind", "refused_by_budget"))
  }
}

type Tags = MetricLabels

/** `mean` nudged into its bucket (floating-point sums can land a hair outside). */
const withinBucket = (bucket: number, mean: number): number => {
  const upper = DURATION_BOUNDS_MILLIS[bucket] ?? Infinity
  const lower = bucket === 0 ? -Infinity : DURATION_BOUNDS_MILLIS[bucket - 1]!
  if (mean > upper) return upper
  if (mean <= lower) return lower + Math.max(1e-9, Math.abs(lower) * 1e-12)
  return mean
}

/**
 * Creates a collector for the guards of `registry` (and any tracked later). With `collectEvery`, a
 * background fiber in the current scope also collects on that period.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Metrics, Registry } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const registry = yield* Registry.make()
 *     const collector = yield* Metrics.make({ registry })
 *     yield* registry.rateLimiter("search")
 *     yield* collector.collect
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (
  options: Options & { readonly registry?: Registry } = {}
): Effect.Effect<Collector, never, Scope.Scope> =>
  Effect.gen(function*() {
    const collector = new CollectorImpl(options.prefix ?? "breakwater", options.registry)
    if (options.collectEvery !== undefined) {
      yield* Effect.forkScoped(
        Effect.schedule(collector.collect, Schedule.spaced(options.collectEvery)).pipe(Effect.forever)
      )
    }
    return collector
  })

/**
 * A Layer providing {@link Collector} for the guards of the `Registry` service.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Metrics, Registry } from "breakwater"
 *
 * const MetricsLive = Metrics.layer({ prefix: "resilience4j" }).pipe(Layer.provideMerge(Registry.layer()))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<Collector, never, Registry> =>
  layerScoped(Collector, Effect.flatMap(Registry, (registry) => make({ ...options, registry })))

/**
 * The call-duration histogram's bucket bounds, in seconds (Prometheus' defaults).
 *
 * @example
 * ```ts
 * import { Metrics } from "breakwater"
 *
 * const buckets = Metrics.durationBoundsSeconds.length // 11 (and +Inf)
 * ```
 *
 * @since 0.1.0
 */
export const durationBoundsSeconds: ReadonlyArray<number> = DURATION_BOUNDS_MILLIS.map((millis) => millis / 1000)
