/**
 * Where a fixed-window limiter's cycles begin and end: every `period` from an origin (Resilience4j's
 * arithmetic), at the recurrences of a `Schedule` (boundaries pushed in by the shell, which steps the
 * schedule), or an older arrangement followed by a newer one after a reconfiguration. Pure: times are
 * milliseconds passed in, nothing here reads a clock.
 *
 * @internal
 */

/** Cycle indices and starts. `NaN` means "boundaries are not known that far yet". */
export interface Cycles {
  /** Index of the first cycle this arrangement describes. */
  readonly firstIndex: number
  /** Index of the cycle containing `t`, or NaN when its end is not known yet. */
  indexAt(t: number): number
  /** Start of cycle `k`, or NaN when not known yet. */
  startOf(k: number): number
  /** Forgets what it holds about cycles before `k`, if anything (they are never asked for again). */
  prune?(k: number): void
}

/** Cycles of a fixed `period`, the first (`firstIndex`) starting at `origin`. */
export class PeriodicCycles implements Cycles {
  constructor(readonly origin: number, readonly period: number, readonly firstIndex = 0) {}

  indexAt(t: number): number {
    const { origin, period } = this
    let k = Math.floor((t - origin) / period)
    if (!Number.isFinite(k)) k = 0 // an infinite period: one cycle forever
    // Division and multiplication round differently; `startOf` is the authority on boundaries.
    else if (origin + (k + 1) * period <= t) k++
    else if (origin + k * period > t) k--
    return this.firstIndex + k
  }

  startOf(k: number): number {
    const n = k - this.firstIndex
    return n === 0 ? this.origin : this.origin + n * this.period
  }
}

/**
 * Cycles whose boundaries are recurrences of a schedule, known only as far as they have been pushed.
 * The last pushed boundary starts a cycle whose end is not known yet; `Infinity` ends the list (the
 * schedule is done, so the cycle before it lasts forever).
 */
export class ScheduledCycles implements Cycles {
  private starts: Array<number>
  private first: number

  constructor(origin: number, readonly firstIndex = 0) {
    this.starts = [origin]
    this.first = firstIndex
  }

  /** The last known boundary: cycles are known up to it. */
  get horizon(): number {
    return this.starts[this.starts.length - 1]!
  }

  /** Index of the cycle the last known boundary starts. */
  get lastIndex(): number {
    return this.first + this.starts.length - 1
  }

  push(boundary: number): void {
    this.starts.push(Math.max(boundary, this.horizon))
  }

  indexAt(t: number): number {
    const starts = this.starts
    const horizon = starts[starts.length - 1]!
    if (t >= horizon) return t === horizon && horizon !== Infinity ? this.lastIndex : Number.NaN
    let i = starts.length - 2
    while (i > 0 && starts[i]! > t) i--
    return this.first + Math.max(0, i)
  }

  startOf(k: number): number {
    const i = k - this.first
    if (i >= this.starts.length) return Number.NaN
    return this.starts[Math.max(0, i)]!
  }

  /**
   * Forgets boundaries of cycles before `k` (they are never asked for again), in batches; the last
   * known boundary is always kept.
   */
  prune(k: number): void {
    const drop = Math.min(k, this.lastIndex) - this.first
    if (drop > 32) {
      this.starts.splice(0, drop)
      this.first = k
    }
  }
}

/** `older` until `from` (the start of cycle `newer.firstIndex`), `newer` from then on. */
export class ChainedCycles implements Cycles {
  constructor(readonly older: Cycles, readonly newer: Cycles, readonly from: number) {}

  get firstIndex(): number {
    return this.older.firstIndex
  }

  indexAt(t: number): number {
    return t < this.from ? this.older.indexAt(t) : this.newer.indexAt(t)
  }

  startOf(k: number): number {
    return k < this.newer.firstIndex ? this.older.startOf(k) : this.newer.startOf(k)
  }

  prune(k: number): void {
    this.older.prune?.(Math.min(k, this.newer.firstIndex - 1))
    this.newer.prune?.(k)
  }
}

/** Drops the parts of a chain that lie wholly in the past. */
export const settle = (cycles: Cycles, now: number): Cycles =>
  cycles instanceof ChainedCycles
    ? now >= cycles.from
      ? settle(cycles.newer, now)
      : new ChainedCycles(cycles.older, settle(cycles.newer, now), cycles.from)
    : cycles

/** The arrangement that new boundaries are pushed into, if it is a scheduled one. */
export const newest = (cycles: Cycles): Cycles => cycles instanceof ChainedCycles ? newest(cycles.newer) : cycles
