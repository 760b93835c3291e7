/**
 * Sliding windows of call outcomes, after Resilience4j's `FixedSizeSlidingWindowMetrics` and
 * `SlidingTimeWindowMetrics`. Pure data structures: no Effect, no clock (time is passed in), no I/O.
 *
 * Both keep running totals so a record and a read are O(1) (a time window also pays for the
 * buckets it rolls over, at most its size), and neither allocates per call: the rings are typed arrays
 * allocated on the first record, so a breaker that never sees a call costs a few fields. Durations are
 * kept only when asked (`keepDurations`: a store reports their total; a breaker in process does not).
 *
 * @internal
 */

/** Aggregates over the calls currently inside a window. */
export interface WindowTotals {
  readonly calls: number
  readonly failed: number
  readonly slow: number
  readonly slowFailed: number
  /** Sum of the durations, in milliseconds. */
  readonly totalDurationMillis: number
}

/** @internal */
export interface SlidingWindow extends WindowTotals {
  /** The number of calls below which rates are not computed (`-1`). */
  readonly minimumNumberOfCalls: number
  /**
   * Whether calls leave the window with time (a time window) rather than only when newer calls
   * replace them (a count window). Only in a window that does not age calls out can a good call
   * (neither failed nor slow) never raise a rate.
   */
  readonly agesOut: boolean
  setMinimumNumberOfCalls(minimum: number): void
  record(nowMillis: number, durationMillis: number, failed: boolean, slow: boolean): void
  /** Drops whatever has aged out by `nowMillis` (a no-op for a count window). */
  roll(nowMillis: number): void
}

const FAILED = 1
const SLOW = 2

/** The last `size` calls, whatever their age. */
export class CountWindow implements SlidingWindow {
  get agesOut(): boolean {
    return false
  }
  calls = 0
  failed = 0
  slow = 0
  slowFailed = 0
  totalDurationMillis = 0
  minimumNumberOfCalls = 0
  /**
   * Two bits per call (FAILED | SLOW), fifteen calls to an element (30 bits: a small integer, stored
   * unboxed), in a plain array: 104 bytes for a window of 100, where a byte per call in a typed array
   * costs ~290 (its ArrayBuffer and view objects alone take ~180). Allocated on the first record.
   */
  private outcomes: Array<number> | undefined
  /** Only when `keepDurations` (a store reports the total); a breaker in process never reads it. */
  private durations: Float64Array | undefined
  private head = 0

  constructor(readonly size: number, minimumNumberOfCalls: number, private readonly keepDurations = true) {
    this.setMinimumNumberOfCalls(minimumNumberOfCalls)
  }

  setMinimumNumberOfCalls(minimum: number): void {
    // Resilience4j caps the minimum at the window size: a window of 10 can never hold 100 calls.
    this.minimumNumberOfCalls = Math.min(minimum, this.size)
  }

  record(_nowMillis: number, durationMillis: number, failed: boolean, slow: boolean): void {
    const outcomes = this.outcomes ?? (this.outcomes = new Array<number>(Math.ceil(this.size / 15)).fill(0))
    const slot = this.head
    const word = (slot / 15) | 0
    const shift = (slot - word * 15) << 1
    const durations = this.keepDurations
      ? this.durations ?? (this.durations = new Float64Array(this.size))
      : undefined
    if (this.calls === this.size) {
      const evicted = (outcomes[word]! >>> shift) & 3
      this.failed -= evicted & FAILED
      this.slow -= (evicted & SLOW) >> 1
      this.slowFailed -= evicted === (FAILED | SLOW) ? 1 : 0
      if (durations !== undefined) this.totalDurationMillis -= durations[slot]!
    } else {
      this.calls++
    }
    const outcome = (failed ? FAILED : 0) | (slow ? SLOW : 0)
    outcomes[word] = (outcomes[word]! & ~(3 << shift)) | (outcome << shift)
    this.failed += outcome & FAILED
    this.slow += (outcome & SLOW) >> 1
    this.slowFailed += outcome === (FAILED | SLOW) ? 1 : 0
    if (durations !== undefined) {
      durations[slot] = durationMillis
      this.totalDurationMillis += durationMillis
    }
    this.head = slot + 1 === this.size ? 0 : slot + 1
  }

  roll(_nowMillis: number): void {}
}

/** The calls of the last `size` whole epoch seconds, in one-second buckets. */
export class TimeWindow implements SlidingWindow {
  get agesOut(): boolean {
    return true
  }
  calls = 0
  failed = 0
  slow = 0
  slowFailed = 0
  totalDurationMillis = 0
  private counts: Uint32Array | undefined // 4 counters per bucket: calls, failed, slow, slowFailed
  private durations: Float64Array | undefined
  private head = 0
  private headEpochSecond = Number.NEGATIVE_INFINITY
  /** When the head bucket's second ends: before it, `roll` has nothing to do (no division per call). */
  private nextRollMillis = Number.NEGATIVE_INFINITY

  constructor(
    readonly size: number,
    public minimumNumberOfCalls: number,
    /** Sums durations per bucket only for a store, which reports the total (a breaker in process never reads it). */
    private readonly keepDurations = true
  ) {}

  setMinimumNumberOfCalls(minimum: number): void {
    this.minimumNumberOfCalls = minimum
  }

  record(nowMillis: number, durationMillis: number, failed: boolean, slow: boolean): void {
    this.roll(nowMillis)
    const counts = this.counts ?? (this.counts = new Uint32Array(this.size * 4))
    const base = this.head * 4
    counts[base]!++
    this.calls++
    if (failed) {
      counts[base + 1]!++
      this.failed++
    }
    if (slow) {
      counts[base + 2]!++
      this.slow++
      if (failed) {
        counts[base + 3]!++
        this.slowFailed++
      }
    }
    if (this.keepDurations) {
      const durations = this.durations ?? (this.durations = new Float64Array(this.size))
      durations[this.head]! += durationMillis
      this.totalDurationMillis += durationMillis
    }
  }

  roll(nowMillis: number): void {
    // Still within the head bucket's second, or the clock stepped back: nothing rolls over.
    if (nowMillis < this.nextRollMillis) return
    const second = Math.floor(nowMillis / 1000)
    const passed = second - this.headEpochSecond
    // A clock that stands still (or steps back) keeps recording into the current bucket.
    if (passed <= 0) return
    this.headEpochSecond = second
    this.nextRollMillis = (second + 1) * 1000
    const counts = this.counts
    const durations = this.durations
    if (counts === undefined) return
    if (passed >= this.size) {
      counts.fill(0)
      durations?.fill(0)
      this.calls =
        this.failed =
        this.slow =
        this.slowFailed =
        this.totalDurationMillis =
          0
      return
    }
    for (let i = 0; i < passed; i++) {
      this.head = this.head + 1 === this.size ? 0 : this.head + 1
      const base = this.head * 4
      this.calls -= counts[base]!
      this.failed -= counts[base + 1]!
      this.slow -= counts[base + 2]!
      this.slowFailed -= counts[base + 3]!
      counts.fill(0, base, base + 4)
      if (durations !== undefined) {
        this.totalDurationMillis -= durations[this.head]!
        durations[this.head] = 0
      }
    }
  }
}

/** `failed × 100 / calls`, or -1 while fewer than the minimum number of calls are buffered. */
export const failureRate = (window: SlidingWindow): number =>
  window.calls < window.minimumNumberOfCalls || window.calls === 0 ? -1 : (window.failed * 100) / window.calls

/** `slow × 100 / calls`, or -1 while fewer than the minimum number of calls are buffered. */
export const slowCallRate = (window: SlidingWindow): number =>
  window.calls < window.minimumNumberOfCalls || window.calls === 0 ? -1 : (window.slow * 100) / window.calls
