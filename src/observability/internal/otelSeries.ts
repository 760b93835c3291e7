/**
 * The OpenTelemetry side of {@link ./series.ts}: removable series added to an OpenTelemetry
 * collection. Kept apart so that only `breakwater/Prometheus` loads OpenTelemetry.
 *
 * @internal
 */
import { type SeriesSnapshot, viewSeries } from "#port"
import type { HrTime } from "@opentelemetry/api"
import { ValueType } from "@opentelemetry/api"
import type { CollectionResult, DataPoint, Histogram, MetricData } from "@opentelemetry/sdk-metrics"
import { AggregationTemporality, DataPointType } from "@opentelemetry/sdk-metrics"

const hrTime = (millis: number): HrTime => [Math.floor(millis / 1000), (millis % 1000) * 1_000_000]

/**
 * Adds `pairs` to an OpenTelemetry collection, as `@effect/opentelemetry`'s producer would have
 * (same descriptors; series of a name already there join its data points).
 */
export const appendTo = (
  result: CollectionResult,
  pairs: ReadonlyArray<SeriesSnapshot>,
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
  for (const pair of pairs) {
    const series = viewSeries(pair)
    const attributes: Record<string, string> = {}
    for (const [key, value] of series.labels) attributes[key] = value
    const point = { startTime: time, endTime: time, attributes }
    let data = byName.get(series.name)
    const descriptor = {
      name: series.name,
      description: series.description,
      unit: "1",
      valueType: ValueType.DOUBLE,
      advice: {}
    }
    if (series.type === "counter") {
      const dataPoint: DataPoint<number> = { ...point, value: series.value }
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
    } else if (series.type === "gauge") {
      const dataPoint: DataPoint<number> = { ...point, value: series.value }
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
    } else if (series.type === "histogram") {
      const size = series.buckets.length
      const boundaries: Array<number> = []
      const counts: Array<number> = []
      let previous = 0
      series.buckets.forEach(([boundary, cumulative], i) => {
        if (i < size - 1) boundaries.push(boundary)
        counts.push(cumulative - previous)
        previous = cumulative
      })
      const dataPoint: DataPoint<Histogram> = {
        ...point,
        value: {
          buckets: { boundaries, counts },
          count: series.count,
          min: series.min,
          max: series.max,
          sum: series.sum
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
