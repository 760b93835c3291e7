/**
 * The dashboard's charts over a long window at a bounded cost: each document is reduced to a small
 * point (the figures the charts plot), and points are kept at three resolutions, coarser further
 * back: one per document for the newest `recent` (2 minutes at the default 1 s interval), then
 * 10-second buckets for 15 minutes, then 1-minute buckets for an hour. A bucket keeps the last value
 * of every cumulative counter (rates are differences of consecutive points) and the worst value of
 * every gauge (highest latency, pool use and breaker state; fewest permits). At most `MAX_SERIES`
 * named breakers and limiters are charted. Memory is therefore bounded whatever the run's length:
 * at most 120 + 90 + 60 points of bounded size. Pure: the shell passes documents in.
 *
 * @internal
 */

/** Named series per kind (breakers, limiters) kept in a point: the rest are not charted. */
export const MAX_SERIES = 12

/** The breaker states as a number to chart: higher is worse. */
export const STATE_CODES: Readonly<Record<string, number>> = {
  Closed: 0,
  Disabled: 0,
  MetricsOnly: 0,
  HalfOpen: 1,
  Open: 2,
  ForcedOpen: 2
}

export interface Point {
  /** Clock time, epoch millis. */
  readonly t: number
  /** Cumulative: failures by reason, calls, load by stage. */
  readonly failures: Readonly<Record<string, number>>
  readonly calls: number
  readonly traffic: Readonly<Record<string, number>>
  /** Cumulative responses by class, outbound and inbound. */
  readonly codesOut: Readonly<Record<string, number>>
  readonly codesIn: Readonly<Record<string, number>>
  /** Gauges: latency percentiles (millis, worst target / policy), pool use (summed), permits, states. */
  readonly latencyOut: Readonly<Record<string, number>>
  readonly latencyIn: Readonly<Record<string, number>>
  readonly pool: Readonly<Record<string, number>>
  readonly permits: Readonly<Record<string, number>>
  readonly breakers: Readonly<Record<string, number>>
}

interface Edge {
  readonly latencyMillis: {
    readonly p50?: number | undefined
    readonly p95?: number | undefined
    readonly p99?: number | undefined
  }
  readonly responseClasses: Readonly<Record<string, number>>
}

interface DocumentLike {
  readonly at: number
  readonly guards: ReadonlyArray<{
    readonly kind: string
    readonly name: string
    readonly state?: string | undefined
    readonly metrics: Readonly<Record<string, number>>
  }>
  readonly failures: Readonly<Record<string, number>>
  readonly traffic: Readonly<Record<string, number>>
  readonly calls: number
  readonly http?: {
    readonly outbound: ReadonlyArray<
      Edge & {
        readonly pool?:
          | { readonly busy: number; readonly free: number; readonly queued: number; readonly pending: number }
          | undefined
      }
    >
    readonly inbound: ReadonlyArray<Edge>
  } | undefined
}

const sumClasses = (edges: ReadonlyArray<Edge>): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const edge of edges) {
    for (const [cls, n] of Object.entries(edge.responseClasses)) out[cls] = (out[cls] ?? 0) + n
  }
  return out
}

const worstLatency = (edges: ReadonlyArray<Edge>): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const edge of edges) {
    for (const p of ["p50", "p95", "p99"] as const) {
      const value = edge.latencyMillis[p]
      if (value !== undefined) out[p] = Math.max(out[p] ?? 0, value)
    }
  }
  return out
}

/** The figures of `document` the charts plot. */
export const pointOf = (document: DocumentLike): Point => {
  const permits: Record<string, number> = {}
  const breakers: Record<string, number> = {}
  let limiters = 0
  let breakerCount = 0
  for (const guard of document.guards) {
    if (guard.kind === "RateLimiter" && limiters < MAX_SERIES) {
      const available = guard.metrics["availablePermissions"]
      if (available !== undefined) {
        permits[guard.name] = available
        limiters++
      }
    } else if (guard.kind === "CircuitBreaker" && breakerCount < MAX_SERIES && guard.state !== undefined) {
      breakers[guard.name] = STATE_CODES[guard.state] ?? 0
      breakerCount++
    }
  }
  const outbound = document.http?.outbound ?? []
  const pool: Record<string, number> = {}
  for (const edge of outbound) {
    if (edge.pool === undefined) continue
    pool["busy"] = (pool["busy"] ?? 0) + edge.pool.busy
    pool["free"] = (pool["free"] ?? 0) + edge.pool.free
    pool["queued"] = (pool["queued"] ?? 0) + edge.pool.queued + edge.pool.pending
  }
  return {
    t: document.at,
    failures: document.failures,
    calls: document.calls,
    traffic: document.traffic,
    codesOut: sumClasses(outbound),
    codesIn: sumClasses(document.http?.inbound ?? []),
    latencyOut: worstLatency(outbound),
    latencyIn: worstLatency(document.http?.inbound ?? []),
    pool,
    permits,
    breakers
  }
}

const merge = (
  a: Readonly<Record<string, number>>,
  b: Readonly<Record<string, number>>,
  pick: (x: number, y: number) => number
): Record<string, number> => {
  const out: Record<string, number> = { ...a }
  for (const [key, value] of Object.entries(b)) out[key] = key in out ? pick(out[key]!, value) : value
  return out
}

/** `older` and `newer` in one bucket, at `newer`'s time: counters from `newer`, gauges at their worst. */
export const combine = (older: Point, newer: Point): Point => ({
  t: newer.t,
  failures: newer.failures,
  calls: newer.calls,
  traffic: newer.traffic,
  codesOut: newer.codesOut,
  codesIn: newer.codesIn,
  latencyOut: merge(older.latencyOut, newer.latencyOut, Math.max),
  latencyIn: merge(older.latencyIn, newer.latencyIn, Math.max),
  pool: merge(older.pool, newer.pool, Math.max),
  permits: merge(older.permits, newer.permits, Math.min),
  breakers: merge(older.breakers, newer.breakers, Math.max)
})

/** Points in buckets of `width` millis (0: one per point), the newest `keep` buckets. */
class Tier {
  readonly points: Array<Point> = []

  constructor(readonly width: number, readonly keep: number) {}

  push(point: Point): void {
    const last = this.points[this.points.length - 1]
    if (this.width > 0 && last !== undefined && Math.floor(last.t / this.width) === Math.floor(point.t / this.width)) {
      this.points[this.points.length - 1] = combine(last, point)
    } else {
      this.points.push(point)
      if (this.points.length > this.keep) this.points.shift()
    }
  }
}

export interface TimelineShape {
  /** Points at full resolution. */
  readonly recent: number
  /** Width and count of the coarser buckets, finest first. */
  readonly tiers: ReadonlyArray<{ readonly widthMillis: number; readonly keep: number }>
}

/** 2 minutes at 1 s, 15 minutes at 10 s, 1 hour at 1 min (with a 1-second interval). */
export const DEFAULT_SHAPE: TimelineShape = {
  recent: 120,
  tiers: [{ widthMillis: 10_000, keep: 90 }, { widthMillis: 60_000, keep: 60 }]
}

export class Timeline {
  private readonly tiers: ReadonlyArray<Tier>

  constructor(shape: TimelineShape = DEFAULT_SHAPE) {
    this.tiers = [new Tier(0, shape.recent), ...shape.tiers.map((tier) => new Tier(tier.widthMillis, tier.keep))]
  }

  push(point: Point): void {
    for (const tier of this.tiers) tier.push(point)
  }

  /** Points kept, all tiers together. */
  get size(): number {
    let n = 0
    for (const tier of this.tiers) n += tier.points.length
    return n
  }

  /**
   * The whole window, oldest first: the coarsest tier's buckets that end before the next finer
   * tier's oldest point, and so on to the full-resolution points.
   */
  points(): Array<Point> {
    const pieces: Array<ReadonlyArray<Point>> = []
    let until = Number.POSITIVE_INFINITY
    for (const tier of this.tiers) {
      pieces.push(until === Number.POSITIVE_INFINITY ? tier.points : tier.points.filter((p) => p.t < until))
      if (tier.points.length > 0) until = Math.min(until, tier.points[0]!.t)
    }
    const out: Array<Point> = []
    for (let i = pieces.length - 1; i >= 0; i--) out.push(...pieces[i]!)
    return out
  }
}
