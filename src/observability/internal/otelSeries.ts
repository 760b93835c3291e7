/**
 * The OpenTelemetry side of {@link ./series.ts}: removable series added to an OpenTelemetry
 * collection. Kept apart so that only `breakwater/Prometheus` loads OpenTelemetry.
 *
 * @internal
 */
import type { HrTime } from "@opentelemetry/api"
import { ValueType } from "@opentelemetry/api"
import type { CollectionResult, DataPoint, Histogram, MetricData } from "@opentelemetry/sdk-metrics"
import { AggregationTemporality, DataPointType } from "@opentelemetry/sdk-metrics"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"
import * as Option from "effect/Option"

const hrTime = (millis: number): HrTime => [Math.floor(millis / 1000), (millis % 1000) * 1_000_000]

/**
 * Adds `pairs` to an OpenTelemetry collection, as `@effect/opentelemetry`'s producer would have
 * (same descriptors; series of a name already there join its data points).
 */
export const appendTo = (
  result: CollectionResult,
  pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>,
  nowMillis: number
): void => {
  const scope = result.resourceMetrics.scopeMetrics[0]
  if (scope === undefined) return
  const byName = new Map<string, MetricData>()
  for (const data of scope.metrics) byName.set(data.descriptor.name, data)
  const time = hrTime(nowMillis)
  const added = (data: MetricData) => {
    if (byName.has(data.descriptor.name)) return
    byName.set(data.descriptor.name, data)
    scope.metrics.push(data)
  }
  for (const { metricKey, metricState } of pairs) {
    const attributes: Record<string, string> = {}
    for (const label of metricKey.tags) attributes[label.key] = label.value
    const point = { startTime: time, endTime: time, attributes }
    let data = byName.get(metricKey.name)
    const descriptor = {
      name: metricKey.name,
      description: Option.getOrElse(metricKey.description, () => ""),
      unit: "1",
      valueType: ValueType.DOUBLE,
      advice: {}
    }
    if (MetricState.isCounterState(metricState)) {
      const dataPoint: DataPoint<number> = { ...point, value: Number(metricState.count) }
      if (data === undefined) {
        data = {
          dataPointType: DataPointType.SUM,
          descriptor,
          isMonotonic: true,
          aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPoints: []
        }
      }
      ;(data.dataPoints as Array<DataPoint<number>>).push(dataPoint)
      added(data)
    } else if (MetricState.isGaugeState(metricState)) {
      const dataPoint: DataPoint<number> = { ...point, value: Number(metricState.value) }
      if (data === undefined) {
        data = {
          dataPointType: DataPointType.GAUGE,
          descriptor,
          aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPoints: []
        }
      }
      ;(data.dataPoints as Array<DataPoint<number>>).push(dataPoint)
      added(data)
    } else if (MetricState.isHistogramState(metricState)) {
      const size = metricState.buckets.length
      const boundaries: Array<number> = []
      const counts: Array<number> = []
      let previous = 0
      metricState.buckets.forEach(([boundary, cumulative], i) => {
        if (i < size - 1) boundaries.push(boundary)
        counts.push(cumulative - previous)
        previous = cumulative
      })
      const dataPoint: DataPoint<Histogram> = {
        ...point,
        value: {
          buckets: { boundaries, counts },
          count: metricState.count,
          min: metricState.min,
          max: metricState.max,
          sum: metricState.sum
        }
      }
      if (data === undefined) {
        data = {
          dataPointType: DataPointType.HISTOGRAM,
          descriptor,
          aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPoints: []
        }
      }
      ;(data.dataPoints as Array<DataPoint<Histogram>>).push(dataPoint)
      added(data)
    }
  }
}
