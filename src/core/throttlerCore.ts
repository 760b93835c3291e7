/**
 * Client-side adaptive throttling from Google's SRE book ("Handling Overload"): over the last
 * `windowMillis`, count the requests the application attempted (including those refused locally) and
 * the requests the dependency accepted; refuse a new request locally with probability
 * max(0, (requests − k × accepts) / (requests + 1)).
 *
 * The window is a ring of `BUCKETS` buckets measured from the core's creation, rolled forward to
 * "now" on every read and write (so the probability decays with no traffic). Time is passed in.
 *
 * @internal
 */

/** Buckets per window: a bucket's worth of history (a twentieth) leaves the window at a time. */
export const BUCKETS = 20

/** max(0, (requests − k × accepts) / (requests + 1)). */
export const rejectionProbability = (requests: number, accepts: number, k: number): number =>
  Math.max(0, (requests - k * accepts) / (requests + 1))

export class ThrottlerCore {
  private readonly requested = new Float64Array(BUCKETS)
  private readonly accepted = new Float64Array(BUCKETS)
  /** Requests sent from each bucket and not answered yet. */
  private readonly pending = new Float64Array(BUCKETS)
  /** The newest bucket the ring has been rolled to, counted from `origin`. */
  private bucket = 0
  /** Requests and accepts within the window. */
  requests = 0
  accepts = 0
  /** Requests within the window still waiting for their answer. */
  inFlight = 0

  constructor(public windowMillis: number, public k: number, private readonly origin: number) {}

  private bucketAt(now: number): number {
    return Math.floor((now - this.origin) * BUCKETS / this.windowMillis)
  }

  /** Drops the buckets that have left the window by `now`. */
  private roll(now: number): number {
    const target = this.bucketAt(now)
    if (target <= this.bucket) return this.bucket % BUCKETS
    const steps = Math.min(BUCKETS, target - this.bucket)
    for (let i = 1; i <= steps; i++) {
      const slot = (this.bucket + i) % BUCKETS
      this.requests -= this.requested[slot]!
      this.accepts -= this.accepted[slot]!
      this.inFlight -= this.pending[slot]!
      this.requested[slot] = 0
      this.accepted[slot] = 0
      this.pending[slot] = 0
    }
    this.bucket = target
    return target % BUCKETS
  }

  /**
   * The probability of refusing a request at `now`, over the requests that have had their answer
   * (or were refused locally): a request in flight is not held against the dependency yet, or a fresh
   * client's first burst of concurrent calls would throttle itself (n in flight, no answer: n/(n+1)).
   */
  probability(now: number): number {
    this.roll(now)
    return rejectionProbability(this.requests - this.inFlight, this.accepts, this.k)
  }

  /** One request attempted and answered at `now`; `accepted` when the dependency accepted it. */
  record(now: number, accepted: boolean): void {
    const slot = this.roll(now)
    this.requested[slot]!++
    this.requests++
    if (accepted) this.accept(now)
  }

  /** A request sent at `now`: counted in its bucket at once, as in flight; returns that bucket. */
  request(now: number): number {
    const slot = this.roll(now)
    this.requested[slot]!++
    this.requests++
    this.pending[slot]!++
    this.inFlight++
    return this.bucket
  }

  /** The answer to a request sent from `bucket`; an accept counts in the bucket of `now`. */
  answer(bucket: number, now: number, accepted: boolean): void {
    const slot = this.slotOf(bucket, now)
    if (slot !== undefined && this.pending[slot]! > 0) {
      this.pending[slot]!--
      this.inFlight--
    }
    if (accepted) this.accept(now)
  }

  /** Takes back a request sent from `bucket` (it never reached the dependency, or was abandoned). */
  withdraw(bucket: number, now: number): void {
    const slot = this.slotOf(bucket, now)
    // After a window change the ring was re-based: never take back more than the bucket holds.
    if (slot === undefined || this.pending[slot]! <= 0) return
    this.pending[slot]!--
    this.inFlight--
    this.requested[slot]!--
    this.requests--
  }

  private accept(now: number): void {
    const slot = this.roll(now)
    this.accepted[slot]!++
    this.accepts++
  }

  /** The slot of `bucket` at `now`, unless it has left the window. */
  private slotOf(bucket: number, now: number): number | undefined {
    this.roll(now)
    return bucket <= this.bucket - BUCKETS || bucket > this.bucket ? undefined : bucket % BUCKETS
  }

  /** A new window length: the counts so far are kept, spread over the ring as they are. */
  setWindow(windowMillis: number, now: number): void {
    this.roll(now)
    // Re-base so that the current bucket keeps its index under the new length.
    this.windowMillis = windowMillis
    const target = this.bucketAt(now)
    const shift = target - this.bucket
    if (shift !== 0) {
      const requested = Float64Array.from(this.requested)
      const accepted = Float64Array.from(this.accepted)
      const pending = Float64Array.from(this.pending)
      for (let i = 0; i < BUCKETS; i++) {
        const to = (((i + shift) % BUCKETS) + BUCKETS) % BUCKETS
        this.requested[to] = requested[i]!
        this.accepted[to] = accepted[i]!
        this.pending[to] = pending[i]!
      }
      this.bucket = target
    }
  }
}
