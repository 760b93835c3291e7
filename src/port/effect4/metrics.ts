/**
 * Metric series owned by breakwater, in Effect 4's metric model (see `../effect3/metrics.ts` for the
 * names): families are `Metric`s, labels are attribute records, and each series keeps its state in a
 * `MetricRegistry` of its own (a one-entry `Map` in a private `Context`), so it is dropped with its
 * owner instead of living in the fiber's registry. A series read is a `Metric.Snapshot`.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Metric from "effect/Metric"

/** A series' labels: Effect 4's attribute record (Effect 3: a `MetricLabel` array). */
export type MetricLabels = Metric.Metric.AttributeSet

/** Labels from `[key, value]` pairs, in that order (Effect 4: an attribute record). */
export const metricLabels = (entries: ReadonlyArray<readonly [string, string]>): MetricLabels =>
  Object.fromEntries(entries)

/** A counter family of numbers (Effect 3: `MetricKey.Counter`; Effect 4: `Metric.Counter`). */
export type CounterFamily = Metric.Counter<number>
/** A gauge family of numbers (Effect 3: `MetricKey.Gauge`; Effect 4: `Metric.Gauge`). */
export type GaugeFamily = Metric.Gauge<number>
/** A histogram family (Effect 3: `MetricKey.Histogram`; Effect 4: `Metric.Histogram<number>`). */
export type HistogramFamily = Metric.Histogram<number>
/** The families a series can belong to. */
export type MetricFamily = CounterFamily | GaugeFamily | HistogramFamily

/** A counter that only grows (negative updates ignored): `Metric.counter(…, { incremental: true })`. */
export const counterFamily = (name: string, description: string): CounterFamily =>
  Metric.counter(name, { description, incremental: true })

/** A gauge: `Metric.gauge` (Effect 3: `MetricKey.gauge`). */
export const gaugeFamily = (name: string, description: string): GaugeFamily => Metric.gauge(name, { description })

/** A histogram over `boundaries` (+Inf added): `Metric.histogram` + `Metric.boundariesFromIterable`. */
export const histogramFamily = (
  name: string,
  description: string,
  boundaries: ReadonlyArray<number>
): HistogramFamily => Metric.histogram(name, { description, boundaries: Metric.boundariesFromIterable(boundaries) })

/** `count` bounds from `start`, each `factor` times the previous (+Inf added when used): `Metric.exponentialBoundaries`. */
export const exponentialBounds = (options: {
  readonly start: number
  readonly factor: number
  readonly count: number
}): ReadonlyArray<number> => Metric.exponentialBoundaries(options).filter((bound) => bound !== Infinity)

/** One series read: Effect 4's `Metric.Snapshot` (Effect 3: `MetricPair`). The type `Collector.series` returns. */
export type SeriesSnapshot = Metric.Metric.Snapshot

/**
 * A series' updater: `update(value)` adds to a counter, sets a gauge, records into a histogram
 * (Effect 3: the series' `MetricHook`; Effect 4: its `Metric.Hooks.update` bound to its context).
 */
export interface SeriesHook {
  readonly update: (value: number) => void
}

/** One series: its state (owned by the caller, dropped with it) and how to update and read it. */
export interface SeriesCell {
  readonly hook: SeriesHook
  /** The series' current state (Effect 4: `Metric.snapshotUnsafe` of its own registry). */
  readonly snapshot: () => SeriesSnapshot
}

/** A new, empty series of `family` labelled `labels`, outside the fiber's `MetricRegistry`. */
export const makeSeries = (family: MetricFamily, labels: MetricLabels): SeriesCell => {
  const registry: Metric.MetricRegistry = new Map()
  const context = Context.make(Metric.MetricRegistry, registry).pipe(
    Context.add(Metric.CurrentMetricAttributes, labels)
  ) as Context.Context<never>
  // Reading creates the series' entry; its hooks are then updated directly, without the per-update
  // lookup by attribute key that `updateUnsafe` does (a collection replays many calls into one series).
  const metric = family as Metric.Metric<number, unknown>
  metric.valueUnsafe(context)
  const hooks = registry.values().next().value!.hooks as Metric.Metric.Hooks<number, unknown>
  return {
    hook: { update: (value) => hooks.update(value, context) },
    snapshot: () => Metric.snapshotUnsafe(context)[0]!
  }
}

/** A series read in plain terms, the same on both targets (for exporters written once). */
export type SeriesView =
  & {
    readonly name: string
    readonly description: string
    readonly labels: ReadonlyArray<readonly [string, string]>
  }
  & (
    | { readonly type: "counter" | "gauge"; readonly value: number }
    | {
      readonly type: "histogram"
      /** `[upper bound, cumulative count]`, the last bound `Infinity`. */
      readonly buckets: ReadonlyArray<readonly [number, number]>
      readonly count: number
      readonly min: number
      readonly max: number
      readonly sum: number
    }
    | { readonly type: "other" }
  )

/** `snapshot` in plain terms (Effect 4: `id`, `attributes`, `description`, `type` and `state`). */
export const viewSeries = (snapshot: SeriesSnapshot): SeriesView => {
  const base = {
    name: snapshot.id,
    description: snapshot.description ?? "",
    labels: Object.entries(snapshot.attributes ?? {})
  }
  switch (snapshot.type) {
    case "Counter":
      return { ...base, type: "counter", value: Number(snapshot.state.count) }
    case "Gauge":
      return { ...base, type: "gauge", value: Number(snapshot.state.value) }
    case "Histogram": {
      const { buckets, count, max, min, sum } = snapshot.state
      return { ...base, type: "histogram", buckets, count, min, max, sum }
    }
    default:
      return { ...base, type: "other" }
  }
}
