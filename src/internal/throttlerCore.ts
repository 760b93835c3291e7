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
  /** The newest bucket the ring has been rolled to, counted from `origin`. */
  private bucket = 0
  /** Requests and accepts within the window. */
  requests = 0
  accepts = 0

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
      this.requested[slot] = 0
      this.accepted[slot] = 0
    }
    this.bucket = target
    return target % BUCKETS
  }

  /** The probability of refusing a request at `now`. */
  probability(now: number): number {
    this.roll(now)
    return rejectionProbability(this.requests, this.accepts, this.k)
  }

  /** One request attempted at `now`; `accepted` when the dependency accepted it. */
  record(now: number, accepted: boolean): void {
    this.request(now)
    if (accepted) this.accept(now)
  }

  /** A request sent at `now` (counted when attempted, as the book does); returns its bucket. */
  request(now: number): number {
    const slot = this.roll(now)
    this.requested[slot]!++
    this.requests++
    return this.bucket
  }

  /** An accept at `now`, counted in the bucket of its completion rather than of its request. */
  accept(now: number): void {
    const slot = this.roll(now)
    this.accepted[slot]!++
    this.accepts++
  }

  /** Takes back a request made in `bucket`, unless that bucket has left the window by `now`. */
  withdraw(bucket: number, now: number): void {
    this.roll(now)
    if (bucket <= this.bucket - BUCKETS || bucket > this.bucket) return
    const slot = bucket % BUCKETS
    // After a window change the ring was re-based: never take back more than the bucket holds.
    if (this.requested[slot]! <= 0) return
    this.requested[slot]!--
    this.requests--
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
      for (let i = 0; i < BUCKETS; i++) {
        const to = (((i + shift) % BUCKETS) + BUCKETS) % BUCKETS
        this.requested[to] = requested[i]!
        this.accepted[to] = accepted[i]!
      }
      this.bucket = target
    }
  }
}
