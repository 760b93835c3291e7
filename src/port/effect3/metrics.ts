/**
 * Metric series owned by breakwater (not Effect's global registry), in Effect 3's metric model:
 * families are `MetricKey`s, a series is a `MetricHook` of its key tagged with `MetricLabel`s, and a
 * series read is a `MetricPair`. `../effect4/metrics.ts` has the same names over Effect 4's `Metric`s
 * and per-Context `MetricRegistry`. Shared code (observability/internal/series.ts, Metrics,
 * otelSeries) is written once against these names.
 *
 * @internal
 */
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricHook from "effect/MetricHook"
import * as MetricKey from "effect/MetricKey"
import * as MetricKeyType from "effect/MetricKeyType"
import * as MetricLabel from "effect/MetricLabel"
import * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"
import * as Option from "effect/Option"

/** A series' labels: Effect 3's `MetricLabel` array (Effect 4: an attribute record). */
export type MetricLabels = ReadonlyArray<MetricLabel.MetricLabel>

/** Labels from `[key, value]` pairs, in that order (Effect 3: `MetricLabel.make` each). */
export const metricLabels = (entries: ReadonlyArray<readonly [string, string]>): MetricLabels =>
  entries.map(([key, value]) => MetricLabel.make(key, value))

/** A counter family of numbers (Effect 3: `MetricKey.Counter`; Effect 4: `Metric.Counter`). */
export type CounterFamily = MetricKey.MetricKey.Counter<number>
/** A gauge family of numbers (Effect 3: `MetricKey.Gauge`; Effect 4: `Metric.Gauge`). */
export type GaugeFamily = MetricKey.MetricKey.Gauge<number>
/** A histogram family (Effect 3: `MetricKey.Histogram`; Effect 4: `Metric.Histogram<number>`). */
export type HistogramFamily = MetricKey.MetricKey.Histogram
/** The families a series can belong to. */
export type MetricFamily = CounterFamily | GaugeFamily | HistogramFamily

/** A counter that only grows (negative updates ignored): `MetricKey.counter(…, { incremental: true })`. */
export const counterFamily = (name: string, description: string): CounterFamily =>
  MetricKey.counter(name, { description, incremental: true })

/** A gauge: `MetricKey.gauge` (Effect 4: `Metric.gauge`). */
export const gaugeFamily = (name: string, description: string): GaugeFamily => MetricKey.gauge(name, { description })

/** A histogram over `boundaries` (+Inf added): `MetricKey.histogram` + `MetricBoundaries.fromIterable`. */
export const histogramFamily = (
  name: string,
  description: string,
  boundaries: ReadonlyArray<number>
): HistogramFamily => MetricKey.histogram(name, MetricBoundaries.fromIterable(boundaries), description)

/** `count` bounds from `start`, each `factor` times the previous (+Inf added when used): `MetricBoundaries.exponential`. */
export const exponentialBounds = (options: {
  readonly start: number
  readonly factor: number
  readonly count: number
}): ReadonlyArray<number> => MetricBoundaries.exponential(options).values.filter((bound) => bound !== Infinity)

/** One series read: Effect 3's `MetricPair` (Effect 4: `Metric.Snapshot`). The type `Collector.series` returns. */
export type SeriesSnapshot = MetricPair.MetricPair.Untyped

/**
 * A series' updater: `update(value)` adds to a counter, sets a gauge, records into a histogram
 * (Effect 3: the series' `MetricHook`; Effect 4: its `Metric.Hooks.update` bound to its context).
 */
export type SeriesHook = MetricHook.MetricHook<number, unknown>

/** One series: its state (owned by the caller, dropped with it) and how to update and read it. */
export interface SeriesCell {
  readonly hook: SeriesHook
  /** The series' current state (Effect 3: `MetricPair.unsafeMake(key, hook.get())`). */
  readonly snapshot: () => SeriesSnapshot
}

/** A new, empty series of `family` labelled `labels`, outside Effect's global registry. */
export const makeSeries = (family: MetricFamily, labels: MetricLabels): SeriesCell => {
  const key = MetricKey.taggedWithLabels(family as MetricKey.MetricKey.Untyped, labels)
  const hook = (MetricKeyType.isCounterKey(key.keyType)
    ? MetricHook.counter(key as MetricKey.MetricKey.Counter<number>)
    : MetricKeyType.isGaugeKey(key.keyType)
    ? MetricHook.gauge(key as MetricKey.MetricKey.Gauge<number>, 0)
    : MetricHook.histogram(key as MetricKey.MetricKey.Histogram)) as MetricHook.MetricHook<number, unknown>
  return { hook, snapshot: () => MetricPair.unsafeMake(key, hook.get() as never) }
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

/** `snapshot` in plain terms (Effect 3: `metricKey.name/tags/description` and `MetricState`). */
export const viewSeries = (snapshot: SeriesSnapshot): SeriesView => {
  const { metricKey, metricState } = snapshot
  const base = {
    name: metricKey.name,
    description: Option.getOrElse(metricKey.description, () => ""),
    labels: metricKey.tags.map((label) => [label.key, label.value] as const)
  }
  if (MetricState.isCounterState(metricState)) return { ...base, type: "counter", value: Number(metricState.count) }
  if (MetricState.isGaugeState(metricState)) return { ...base, type: "gauge", value: Number(metricState.value) }
  if (MetricState.isHistogramState(metricState)) {
    const { buckets, count, max, min, sum } = metricState
    return { ...base, type: "histogram", buckets, count, min, max, sum }
  }
  return { ...base, type: "other" }
}
