/**
 * A bounded sample of recent call durations (a ring of the newest `size`), and its percentiles, for
 * the hedge's delay. Sorting is done on read and cached until a tenth of the sample has been
 * replaced, so a busy hedge sorts rarely. Time is passed in as durations; nothing here reads a clock.
 *
 * @internal
 */
export class LatencySample {
  private readonly ring: Float64Array
  private next = 0
  /** Durations held (at most the size). */
  count = 0
  private sorted: Float64Array | undefined
  private changedSinceSort = 0

  constructor(readonly size: number) {
    this.ring = new Float64Array(size)
  }

  add(millis: number): void {
    this.ring[this.next] = millis
    this.next = (this.next + 1) % this.size
    if (this.count < this.size) this.count++
    this.changedSinceSort++
  }

  /** The `p`-th percentile (nearest rank), or `undefined` while the sample is empty. */
  percentile(p: number): number | undefined {
    if (this.count === 0) return undefined
    if (this.sorted === undefined || this.changedSinceSort >= Math.max(1, Math.floor(this.count / 10))) {
      this.sorted = this.ring.slice(0, this.count).sort()
      this.changedSinceSort = 0
    }
    const rank = Math.min(this.sorted.length, Math.max(1, Math.ceil(p / 100 * this.sorted.length)))
    return this.sorted[rank - 1]
  }
}
