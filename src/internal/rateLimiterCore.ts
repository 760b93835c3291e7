/**
 * The rate limiters' decision logic as plain classes: no Effect, no clock, no I/O. Time is in
 * milliseconds (fractions allowed) and is always passed in.
 *
 * Every algorithm serves requests in order of arrival: a request never takes permits ahead of one that
 * is already waiting. A request is answered in two steps so that several limiters can be asked at once
 * (all-or-nothing): `earliest` says when the permits could be had, without taking them, and
 * `reserveAt` takes them for that moment. `tryTake` is both in one step for the hot path.
 *
 * @internal
 */
import type { Cycles } from "./rateLimiterCycles.js"

/** The algorithms behind `RateLimiter`'s one interface. */
export interface LimiterCore {
  /** Takes `permits` now if they are available now, without waiting behind anyone. */
  tryTake(permits: number, now: number): boolean
  /**
   * The earliest time, not before `notBefore`, at which `permits` can be granted: `Infinity` when
   * never (more than the limiter ever grants at once), `NaN` when the cycle boundaries that decide it
   * are not known yet (the shell steps the schedule and asks again).
   */
  earliest(permits: number, now: number, notBefore: number): number
  /** Reserves `permits` for `at` (a time `earliest` returned); the ticket identifies the reservation. */
  reserveAt(permits: number, now: number, at: number): number
  /** Gives back a reservation whose holder will not use it (it was interrupted while waiting). */
  release(ticket: number, permits: number, now: number): void
  /** Permits available now; negative while reservations wait for later permits. */
  available(now: number): number
  /** Takes every permit available now; returns how many. */
  drain(now: number): number
  /** Whether the cycle containing `now` is known (always, except between a schedule's boundaries). */
  known(now: number): boolean
}

/**
 * Resilience4j's AtomicRateLimiter: `limit` permits per cycle, no accumulation across cycles, and a
 * request short of permits reserves them in the next cycle that has room. Unlike Resilience4j's single
 * counter (which lets a weighted request borrow the rest of one cycle and run in the next), a
 * reservation takes all its permits from the cycle in which its holder runs, so no cycle ever sees
 * more than `limit` permits used.
 */
export class FixedWindow implements LimiterCore {
  /** The latest cycle with grants or reservations. */
  private tail: number
  /** Permits still free in the tail cycle. */
  private remaining: number
  /** The tail before the last reservation moved it on, to go back to if that is given back. */
  private behind = Number.NEGATIVE_INFINITY
  private behindRemaining = 0

  constructor(public cycles: Cycles, public limit: number, now: number) {
    const cur = cycles.indexAt(now)
    this.tail = Number.isNaN(cur) ? cycles.firstIndex : cur
    this.remaining = limit
  }

  /** Moves to the current cycle (fresh permits) if the tail is behind it; returns its index. */
  private refresh(now: number): number {
    const cur = this.cycles.indexAt(now)
    if (cur > this.tail) {
      this.tail = cur
      this.remaining = this.limit
      this.behind = Number.NEGATIVE_INFINITY
    }
    return cur
  }

  get tailCycle(): number {
    return this.tail
  }

  known(now: number): boolean {
    return !Number.isNaN(this.cycles.indexAt(now))
  }

  tryTake(permits: number, now: number): boolean {
    if (this.refresh(now) === this.tail && this.remaining >= permits) {
      this.remaining -= permits
      return true
    }
    return false
  }

  earliest(permits: number, now: number, notBefore: number): number {
    const cur = this.refresh(now)
    if (Number.isNaN(cur)) return cur
    let k = notBefore <= now ? cur : this.cycles.indexAt(notBefore)
    if (Number.isNaN(k)) return k
    if (k <= this.tail) {
      if (this.remaining >= permits) return Math.max(notBefore, this.cycles.startOf(this.tail))
      k = this.tail + 1
    }
    if (permits > this.limit) return Number.POSITIVE_INFINITY
    return Math.max(notBefore, this.cycles.startOf(k))
  }

  reserveAt(permits: number, now: number, at: number): number {
    const cur = this.refresh(now)
    const k = at <= now ? cur : Math.max(this.cycles.indexAt(at), this.tail)
    if (k > this.tail) {
      this.behind = this.tail
      this.behindRemaining = this.remaining
      this.tail = k
      this.remaining = this.limit
    }
    this.remaining -= permits
    return k
  }

  release(ticket: number, permits: number, now: number): void {
    // Only the tail cycle's free count can take permits back exactly; a reservation behind later
    // ones leaves its cycle with fewer grants (never more than the limit, nothing lost after it).
    const cur = this.refresh(now)
    if (ticket !== this.tail) return
    this.remaining += permits
    // Nothing reserved in the tail any more: the cycle before it (if not past) is the tail again.
    if (this.remaining >= this.limit && this.behind >= cur) {
      this.tail = this.behind
      this.remaining = this.behindRemaining
      this.behind = Number.NEGATIVE_INFINITY
    }
  }

  available(now: number): number {
    const cur = this.refresh(now)
    const held = this.behind >= cur ? this.behindRemaining : 0 // free in a cycle a reservation passed over
    return held + this.remaining - (this.tail - cur) * this.limit
  }

  drain(now: number): number {
    if (this.refresh(now) !== this.tail || this.remaining <= 0) return 0
    const drained = this.remaining
    this.remaining = 0
    return drained
  }
}

/**
 * A token bucket: up to `capacity` tokens, refilled continuously at `rate` tokens per millisecond.
 * Tokens may go negative: a waiting request has taken tokens that have not been refilled yet, and
 * waits until they are.
 */
export class TokenBucket implements LimiterCore {
  private tokens: number
  private last: number
  /** The latest time a reservation waits for: nobody arriving later is served before it. */
  private queueEnd = Number.NEGATIVE_INFINITY

  constructor(public rate: number, public capacity: number, now: number) {
    this.tokens = capacity
    this.last = now
  }

  known(): boolean {
    return true
  }

  private refill(now: number): void {
    if (now > this.last) {
      const refilled = this.tokens + (now - this.last) * this.rate
      this.tokens = refilled < this.capacity ? refilled : this.capacity
      this.last = now
    }
  }

  /** New rate and capacity from `now` on; tokens above the new capacity are dropped. */
  configure(rate: number, capacity: number, now: number): void {
    this.refill(now)
    this.rate = rate
    this.capacity = capacity
    if (this.tokens > capacity) this.tokens = capacity
  }

  tryTake(permits: number, now: number): boolean {
    this.refill(now)
    if (this.tokens >= permits && now >= this.queueEnd) {
      this.tokens -= permits
      return true
    }
    return false
  }

  earliest(permits: number, now: number, notBefore: number): number {
    this.refill(now)
    const start = Math.max(notBefore, this.queueEnd)
    if (this.tokens >= permits) return start
    if (permits > this.capacity || this.rate <= 0) return Number.POSITIVE_INFINITY
    return Math.max(start, now + (permits - this.tokens) / this.rate)
  }

  reserveAt(permits: number, now: number, at: number): number {
    this.refill(now)
    this.tokens -= permits
    if (at > this.queueEnd) this.queueEnd = at
    return 0
  }

  release(_ticket: number, permits: number, now: number): void {
    this.refill(now)
    this.tokens = Math.min(this.capacity, this.tokens + permits)
  }

  available(now: number): number {
    this.refill(now)
    return Math.floor(this.tokens)
  }

  drain(now: number): number {
    this.refill(now)
    if (this.tokens <= 0) return 0
    const drained = Math.floor(this.tokens)
    this.tokens -= drained
    return drained
  }
}

/**
 * An exact sliding window: at no moment have more than `limit` permits been granted within the last
 * `window` milliseconds. Grants (and reservations, stamped with the time their holder runs) are kept
 * in a ring of (time, permits), oldest first, evicted once they leave the window; the ring grows on
 * demand and holds at most one entry per permit in the window plus the waiting reservations.
 */
export class SlidingWindow implements LimiterCore {
  private times = new Float64Array(16)
  private weights = new Float64Array(16)
  private mask = 15
  /** Sequence numbers: entries `head` (oldest) up to `next` (exclusive) are in the ring. */
  private head = 0
  private next = 0
  /** Permits of all entries in the ring. */
  private total = 0

  constructor(public window: number, public limit: number) {}

  known(): boolean {
    return true
  }

  private evict(now: number): void {
    const horizon = now - this.window
    const times = this.times
    const mask = this.mask
    while (this.head < this.next && times[this.head & mask]! <= horizon) {
      this.total -= this.weights[this.head & mask]!
      this.head++
    }
  }

  private lastTime(): number {
    return this.head < this.next ? this.times[(this.next - 1) & this.mask]! : Number.NEGATIVE_INFINITY
  }

  private push(at: number, permits: number): number {
    if (this.next - this.head > this.mask) this.grow()
    const slot = this.next & this.mask
    this.times[slot] = at
    this.weights[slot] = permits
    this.total += permits
    return this.next++
  }

  private grow(): void {
    const size = (this.mask + 1) * 2
    const times = new Float64Array(size)
    const weights = new Float64Array(size)
    for (let seq = this.head; seq < this.next; seq++) {
      times[seq & (size - 1)] = this.times[seq & this.mask]!
      weights[seq & (size - 1)] = this.weights[seq & this.mask]!
    }
    this.times = times
    this.weights = weights
    this.mask = size - 1
  }

  tryTake(permits: number, now: number): boolean {
    this.evict(now)
    if (this.total + permits <= this.limit && this.lastTime() <= now) {
      this.push(now, permits)
      return true
    }
    return false
  }

  earliest(permits: number, now: number, notBefore: number): number {
    this.evict(now)
    if (permits > this.limit) return Number.POSITIVE_INFINITY
    const start = Math.max(notBefore, this.lastTime())
    const { mask, times, weights, window } = this
    let live = this.total
    let seq = this.head
    while (seq < this.next && times[seq & mask]! <= start - window) live -= weights[seq++ & mask]!
    let at = start
    // Wait for the oldest grants to leave the window until the request fits.
    while (live + permits > this.limit && seq < this.next) {
      at = times[seq & mask]! + window
      live -= weights[seq++ & mask]!
    }
    return at
  }

  reserveAt(permits: number, now: number, at: number): number {
    this.evict(now)
    return this.push(at, permits)
  }

  release(ticket: number, permits: number, now: number): void {
    this.evict(now)
    if (ticket >= this.head && ticket < this.next) {
      const slot = ticket & this.mask
      const taken = Math.min(permits, this.weights[slot]!)
      this.weights[slot] = this.weights[slot]! - taken
      this.total -= taken
    }
  }

  available(now: number): number {
    this.evict(now)
    return this.limit - this.total
  }

  drain(now: number): number {
    this.evict(now)
    const free = this.limit - this.total
    if (free <= 0) return 0
    this.push(Math.max(now, this.lastTime()), free)
    return free
  }
}
