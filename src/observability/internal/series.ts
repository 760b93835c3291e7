/**
 * Metric series that can be removed. Effect 3's global metric registry never forgets a tagged
 * series: every HTTP target or guard ever seen would stay in every scrape and in the heap (issue 15:
 * 3,000 expired targets left 73k series, a 21.6 MB scrape). So series that belong to something with a
 * lifetime (a guard, a target, a pool) are kept here instead, in a {@link SeriesGroup} owned by that
 * thing and dropped with it, as Resilience4j's Micrometer binders remove their meters with the
 * registry entry. Each series keeps its own state (Effect 3: a `MetricHook`; Effect 4: a one-series
 * `MetricRegistry`; see `#port`'s metrics), read as `SeriesSnapshot`s (`MetricPair` / `Metric.Snapshot`)
 * and exported by `Prometheus.producer` (through `otelSeries.ts`, so that the root entry loads no
 * OpenTelemetry) beside Effect's global metrics.
 *
 * @internal
 */
import {
  makeSeries,
  type MetricFamily,
  type MetricLabels,
  type SeriesCell,
  type SeriesHook,
  type SeriesSnapshot
} from "#port"

/** The families a group can hold: counters, gauges and histograms of numbers. */
export type Family = MetricFamily

/**
 * The series of one owner. Series are found by the identity of their family and of their labels,
 * so callers build each labels value once and reuse it.
 */
export class SeriesGroup {
  private readonly byFamily = new Map<Family, Map<MetricLabels, SeriesCell>>()

  /** The series of `family` labelled `tags`, created empty on first use. */
  hook(family: Family, tags: MetricLabels): SeriesHook {
    let byTags = this.byFamily.get(family)
    if (byTags === undefined) this.byFamily.set(family, byTags = new Map())
    let series = byTags.get(tags)
    if (series === undefined) byTags.set(tags, series = makeSeries(family, tags))
    return series.hook
  }

  /** Adds to a counter, sets a gauge, or records into a histogram (Effect's `Metric.update`). */
  update(family: Family, value: number, tags: MetricLabels): void {
    this.hook(family, tags).update(value)
  }

  /** Appends every series' current state to `out`. */
  pairs(out: Array<SeriesSnapshot>): void {
    for (const byTags of this.byFamily.values()) {
      for (const series of byTags.values()) out.push(series.snapshot())
    }
  }
}

/** Groups exported by every producer while they are registered (the HTTP client's targets and pools). */
// One set per process even if this module is loaded twice (two copies of breakwater): on globalThis
// under a registered symbol, as Effect 3's `globalValue` did (Effect 4 has no `GlobalValue`).
const liveKey = Symbol.for("breakwater/internal/series/live")
const live: Set<SeriesGroup> = ((globalThis as { [liveKey]?: Set<SeriesGroup> })[liveKey] ??= new Set())

export const register = (group: SeriesGroup): void => {
  live.add(group)
}

export const unregister = (group: SeriesGroup): void => {
  live.delete(group)
}

/** The registered groups' series. */
export const livePairs = (out: Array<SeriesSnapshot> = []): Array<SeriesSnapshot> => {
  for (const group of live) group.pairs(out)
  return out
}

export const liveGroups = (): number => live.size
