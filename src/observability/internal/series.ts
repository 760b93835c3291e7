/**
 * Metric series that can be removed. Effect 3's global metric registry never forgets a tagged
 * series: every HTTP target or guard ever seen would stay in every scrape and in the heap (issue 15:
 * 3,000 expired targets left 73k series, a 21.6 MB scrape). So series that belong to something with a
 * lifetime (a guard, a target, a pool) are kept here instead, in a {@link SeriesGroup} owned by that
 * thing and dropped with it, as Resilience4j's Micrometer binders remove their meters with the
 * registry entry. They are Effect's own `MetricHook`s (the state Effect's registry keeps), read as
 * `MetricPair`s and exported by `Prometheus.producer` (through `otelSeries.ts`, so that the
 * root entry loads no OpenTelemetry) beside Effect's global metrics.
 *
 * @internal
 */
import { globalValue } from "effect/GlobalValue"
import * as MetricHook from "effect/MetricHook"
import * as MetricKey from "effect/MetricKey"
import * as MetricKeyType from "effect/MetricKeyType"
import type * as MetricLabel from "effect/MetricLabel"
import * as MetricPair from "effect/MetricPair"

type Tags = ReadonlyArray<MetricLabel.MetricLabel>

/** The families a group can hold: counters, gauges and histograms of numbers. */
export type Family =
  | MetricKey.MetricKey.Counter<number>
  | MetricKey.MetricKey.Gauge<number>
  | MetricKey.MetricKey.Histogram

interface Series {
  readonly key: MetricKey.MetricKey.Untyped
  readonly hook: MetricHook.MetricHook<number, unknown>
}

/**
 * The series of one owner. Series are found by the identity of their family and of their labels
 * array, so callers build each labels array once and reuse it (as Effect's own hook cache expects).
 */
export class SeriesGroup {
  private readonly byFamily = new Map<Family, Map<Tags, Series>>()

  /** The series of `family` labelled `tags`, created empty on first use. */
  hook(family: Family, tags: Tags): MetricHook.MetricHook<number, unknown> {
    let byTags = this.byFamily.get(family)
    if (byTags === undefined) this.byFamily.set(family, byTags = new Map())
    let series = byTags.get(tags)
    if (series === undefined) {
      const key = MetricKey.taggedWithLabels(family as MetricKey.MetricKey.Untyped, tags)
      const hook = MetricKeyType.isCounterKey(key.keyType)
        ? MetricHook.counter(key as MetricKey.MetricKey.Counter<number>)
        : MetricKeyType.isGaugeKey(key.keyType)
        ? MetricHook.gauge(key as MetricKey.MetricKey.Gauge<number>, 0)
        : MetricHook.histogram(key as MetricKey.MetricKey.Histogram)
      series = { key, hook: hook as MetricHook.MetricHook<number, unknown> }
      byTags.set(tags, series)
    }
    return series.hook
  }

  /** Adds to a counter, sets a gauge, or records into a histogram (Effect's `Metric.update`). */
  update(family: Family, value: number, tags: Tags): void {
    this.hook(family, tags).update(value)
  }

  /** Appends every series' current state to `out`. */
  pairs(out: Array<MetricPair.MetricPair.Untyped>): void {
    for (const byTags of this.byFamily.values()) {
      for (const { hook, key } of byTags.values()) out.push(MetricPair.unsafeMake(key, hook.get() as never))
    }
  }
}

/** Groups exported by every producer while they are registered (the HTTP client's targets and pools). */
const live = globalValue(Symbol.for("breakwater/internal/series/live"), () => new Set<SeriesGroup>())

export const register = (group: SeriesGroup): void => {
  live.add(group)
}

export const unregister = (group: SeriesGroup): void => {
  live.delete(group)
}

/** The registered groups' series. */
export const livePairs = (out: Array<MetricPair.MetricPair.Untyped> = []): Array<MetricPair.MetricPair.Untyped> => {
  for (const group of live) group.pairs(out)
  return out
}

export const liveGroups = (): number => live.size
