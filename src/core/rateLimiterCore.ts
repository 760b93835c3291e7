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
import { type Cycles, PeriodicCycles } from "./rateLimiterCycles.js"

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
  /**
   * Gives back a reservation whose holder will not use it (it was interrupted while waiting): its
   * permits are usable again, and newcomers no longer queue behind it.
   */
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
 *
 * Permits are counted per cycle: the current one, plus each later cycle that holds reservations or
 * permits given back. Newcomers queue at the latest reserved cycle (the frontier) or after it; the
 * permits left in a cycle a reservation passed over are held back (no overtaking), except permits a
 * reservation gave back (its holder was interrupted): those go back to their own cycle and any
 * newcomer may take them, which delays nobody.
 *
 * A new limit applies from the cycle after the current one. Reservations already made stand, even in
 * a cycle over the new limit (they were granted under the old one); nothing more is granted in a cycle
 * than its limit allows.
 */
export class FixedWindow implements LimiterCore {
  /** The cycle seen last as the current one. */
  private cur: number
  /** Permits granted or reserved in `cur`. */
  private used = 0
  /** Of `cur`'s free permits, those given back while later cycles hold reservations. */
  private back = 0
  /**
   * Later cycles with reservations or permits given back, in increasing order from `head`: the last
   * one always holds a reservation (it is the frontier); none after the frontier has `back`.
   */
  private readonly laterCycle: Array<number> = []
  private readonly laterUsed: Array<number> = []
  private readonly laterBack: Array<number> = []
  private head = 0
  /** The limit up to cycle `limitFrom - 1`; `limit` applies from `limitFrom` on. */
  private previousLimit: number
  private limitFrom = Number.NEGATIVE_INFINITY

  constructor(public cycles: Cycles, public limit: number, now: number) {
    const cur = cycles.indexAt(now)
    this.cur = Number.isNaN(cur) ? cycles.firstIndex : cur
    this.previousLimit = limit
  }

  private limitOf(k: number): number {
    return k >= this.limitFrom ? this.limit : this.previousLimit
  }

  /** Moves to the current cycle if it is past `cur`; returns its index (NaN when not known yet). */
  private refresh(now: number): number {
    const c = this.cycles.indexAt(now)
    if (c > this.cur) this.advance(c)
    return c < this.cur ? this.cur : c
  }

  private advance(c: number): void {
    const cycles = this.laterCycle
    let h = this.head
    while (h < cycles.length && cycles[h]! < c) h++
    if (h < cycles.length && cycles[h] === c) {
      this.used = this.laterUsed[h]!
      this.back = this.laterBack[h]!
      h++
    } else {
      this.used = 0
      this.back = 0
    }
    if (h >= cycles.length) {
      cycles.length = 0
      this.laterUsed.length = 0
      this.laterBack.length = 0
      h = 0
      this.back = 0
    } else if (h > 64 && h * 2 > cycles.length) {
      cycles.splice(0, h)
      this.laterUsed.splice(0, h)
      this.laterBack.splice(0, h)
      h = 0
    }
    this.head = h
    this.cur = c
    this.cycles.prune?.(c)
  }

  /** The latest cycle with reservations (the current one when none waits). */
  get tailCycle(): number {
    const n = this.laterCycle.length
    return n > this.head ? this.laterCycle[n - 1]! : this.cur
  }

  /** Position of cycle `k` among the later cycles, or -1. */
  private find(k: number): number {
    const cycles = this.laterCycle
    for (let i = cycles.length - 1; i >= this.head; i--) {
      if (cycles[i] === k) return i
      if (cycles[i]! < k) break
    }
    return -1
  }

  /** A new limit, from the cycle after the current one on (or after `cur` if `now` is not known). */
  setLimit(limit: number, now: number): void {
    const c = this.refresh(now)
    const cur = Number.isNaN(c) ? this.cur : c
    if (cur >= this.limitFrom) {
      this.previousLimit = this.limitOf(cur)
      this.limitFrom = cur + 1
    }
    this.limit = limit
    // Permits given back may not lift a cycle above its new limit.
    for (let i = this.head; i < this.laterCycle.length; i++) {
      this.laterBack[i] = Math.min(this.laterBack[i]!, Math.max(0, limit - this.laterUsed[i]!))
    }
  }

  known(now: number): boolean {
    return !Number.isNaN(this.cycles.indexAt(now))
  }

  tryTake(permits: number, now: number): boolean {
    const c = this.refresh(now)
    if (c !== this.cur) return false
    if (this.laterCycle.length > this.head) {
      // Later cycles hold reservations: only permits given back may be taken ahead of them.
      if (this.back < permits) return false
      this.back -= permits
    } else if (this.limitOf(c) - this.used < permits) {
      return false
    }
    this.used += permits
    return true
  }

  earliest(permits: number, now: number, notBefore: number): number {
    const cur = this.refresh(now)
    if (Number.isNaN(cur)) return cur
    let k = notBefore <= now ? cur : this.cycles.indexAt(notBefore)
    if (Number.isNaN(k)) return k
    if (k < cur) k = cur
    const cycles = this.laterCycle
    const n = cycles.length
    if (n > this.head) {
      const frontier = cycles[n - 1]!
      if (k < frontier) {
        // Permits given back before the frontier.
        if (k === cur && this.back >= permits) return this.startAt(cur, notBefore)
        for (let i = this.head; i < n - 1; i++) {
          if (cycles[i]! >= k && this.laterBack[i]! >= permits) return this.startAt(cycles[i]!, notBefore)
        }
        k = frontier
      }
      if (k === frontier) {
        if (this.limitOf(k) - this.laterUsed[n - 1]! >= permits) return this.startAt(k, notBefore)
        k++
      }
    } else if (k === cur) {
      if (this.limitOf(k) - this.used >= permits) return this.startAt(k, notBefore)
      k++
    }
    // Beyond the frontier every cycle is empty.
    if (this.limitOf(k) < permits) {
      if (this.limit < permits) return Number.POSITIVE_INFINITY
      k = Math.max(k, this.limitFrom)
    }
    return this.startAt(k, notBefore)
  }

  /** When a request not before `notBefore` can run in cycle `k`. */
  private startAt(k: number, notBefore: number): number {
    const start = this.cycles.startOf(k)
    return start > notBefore ? start : Number.isNaN(start) ? start : notBefore
  }

  reserveAt(permits: number, now: number, at: number): number {
    const cur = this.refresh(now)
    const k = at <= now ? cur : Math.max(this.cycles.indexAt(at), cur)
    if (k === cur) {
      if (this.laterCycle.length > this.head) this.back = Math.max(0, this.back - permits)
      this.used += permits
      return k
    }
    const cycles = this.laterCycle
    const n = cycles.length
    if (n > this.head && k <= cycles[n - 1]!) {
      const i = this.find(k)
      if (i >= 0) {
        this.laterUsed[i] = this.laterUsed[i]! + permits
        if (i < n - 1) this.laterBack[i] = Math.max(0, this.laterBack[i]! - permits)
        return k
      }
      // Not where `earliest` would have put it; kept in order all the same.
      let at = n
      while (at > this.head && cycles[at - 1]! > k) at--
      cycles.splice(at, 0, k)
      this.laterUsed.splice(at, 0, permits)
      this.laterBack.splice(at, 0, 0)
      return k
    }
    // A new frontier: the permits left before it are held back.
    cycles.push(k)
    this.laterUsed.push(permits)
    this.laterBack.push(0)
    return k
  }

  release(ticket: number, permits: number, now: number): void {
    const cur = this.refresh(now)
    if (ticket < this.cur) return // its cycle is over
    const cycles = this.laterCycle
    if (ticket === this.cur) {
      this.used -= permits
      if (cycles.length > this.head) {
        this.back = Math.min(this.back + permits, Math.max(0, this.limitOf(cur) - this.used))
      }
      return
    }
    const i = this.find(ticket)
    if (i < 0) return
    const used = this.laterUsed[i]! - permits
    this.laterUsed[i] = used
    if (i < cycles.length - 1) {
      this.laterBack[i] = Math.min(this.laterBack[i]! + permits, Math.max(0, this.limitOf(ticket) - used))
      return
    }
    if (used > 0) return
    // The frontier holds nothing any more: it moves back to the latest cycle still reserved into, whose
    // held-back permits are free again.
    let n = cycles.length - 1
    while (n > this.head && this.laterUsed[n - 1]! <= 0) n--
    cycles.length = n
    this.laterUsed.length = n
    this.laterBack.length = n
    if (n > this.head) this.laterBack[n - 1] = 0
    else {
      this.head = 0
      cycles.length = 0
      this.laterUsed.length = 0
      this.laterBack.length = 0
      this.back = 0
    }
  }

  available(now: number): number {
    const cur = this.refresh(now)
    let free = this.limitOf(cur) - this.used
    if (free < 0) free = 0
    for (let i = this.head; i < this.laterCycle.length; i++) free -= this.laterUsed[i]!
    return free
  }

  drain(now: number): number {
    const cur = this.refresh(now)
    const free = this.limitOf(cur) - this.used
    if (Number.isNaN(cur) || free <= 0) return 0
    const drained = this.laterCycle.length > this.head ? this.back : free
    this.used += free
    this.back = 0
    return drained
  }
}

/**
 * A token bucket: up to `capacity` tokens, refilled continuously at `rate` tokens per millisecond.
 * Tokens may go negative: a waiting request has taken tokens that have not been refilled yet, and
 * waits until they are. A reservation given back returns its tokens at once; newcomers queue behind
 * the latest reservation still waiting (not behind one given back).
 */
/**
 * A ring of (time, weight) pairs addressed by ever-increasing sequence numbers `head..next-1`; its size
 * is a power of two (`mask + 1`) so a sequence number maps to a slot with `& mask`.
 */
interface Ring {
  times: Float64Array
  weights: Float64Array
  mask: number
  head: number
  next: number
}

/**
 * A ring with no slots yet: a limiter kept per key (thousands of them idle) allocates its ring only
 * when it first needs one.
 */
const NO_SLOTS = new Float64Array(0)

/** Doubles a full ring (an empty one gets 8 slots), keeping every live sequence number's pair. */
const growRing = (ring: Ring): void => {
  const size = Math.max(8, (ring.mask + 1) * 2)
  const times = new Float64Array(size)
  const weights = new Float64Array(size)
  for (let seq = ring.head; seq < ring.next; seq++) {
    times[seq & (size - 1)] = ring.times[seq & ring.mask]!
    weights[seq & (size - 1)] = ring.weights[seq & ring.mask]!
  }
  ring.times = times
  ring.weights = weights
  ring.mask = size - 1
}

export class TokenBucket implements LimiterCore {
  private tokens: number
  private last: number
  /** The latest time a reservation waits for: nobody arriving later is served before it. */
  private queueEnd = Number.NEGATIVE_INFINITY
  /**
   * Reservations for a later time (time, permits; permits 0 once given back), by ticket from `head`
   * (oldest) up to `next` (exclusive), in time order; kept to find the new `queueEnd` on a release.
   */
  // The ring of outstanding reservations (see `Ring`), allocated on the first reservation.
  times = NO_SLOTS
  weights = NO_SLOTS
  mask = -1
  head = 0
  next = 0

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
    if (at <= now) return -1 // granted now: never given back
    // Forget reservations whose time has passed, then record this one.
    while (this.head < this.next && this.times[this.head & this.mask]! < now) this.head++
    if (this.next - this.head > this.mask) this.grow()
    const slot = this.next & this.mask
    this.times[slot] = at
    this.weights[slot] = permits
    return this.next++
  }

  private grow(): void {
    growRing(this)
  }

  release(ticket: number, permits: number, now: number): void {
    this.refill(now)
    this.tokens = Math.min(this.capacity, this.tokens + permits)
    if (ticket < this.head || ticket >= this.next) return
    this.weights[ticket & this.mask] = 0
    // The queue now ends at the latest reservation still held.
    while (this.next > this.head && this.weights[(this.next - 1) & this.mask] === 0) this.next--
    this.queueEnd = this.next > this.head ? this.times[(this.next - 1) & this.mask]! : Number.NEGATIVE_INFINITY
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
 * demand and holds at most one entry per permit in the window plus the waiting reservations. A
 * reservation given back leaves its entry with no permits; newcomers queue behind the newest entry
 * still held (entries given back at the end of the ring are dropped).
 */
export class SlidingWindow implements LimiterCore {
  // The ring of grants still inside the window (see `Ring`), allocated on the first grant.
  times = NO_SLOTS
  weights = NO_SLOTS
  mask = -1
  /** Sequence numbers: entries `head` (oldest) up to `next` (exclusive) are in the ring. */
  head = 0
  next = 0
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
    growRing(this)
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
      // Entries given back at the end of the ring go: newcomers queue behind the latest one still held.
      while (this.next > this.head && this.weights[(this.next - 1) & this.mask] === 0) this.next--
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

/** What a core needs when its period is a duration (not a schedule). */
export interface PeriodicSettings {
  readonly algorithm: "fixed-window" | "token-bucket" | "sliding-window"
  readonly limitForPeriod: number
  readonly periodMillis: number
  /** Token bucket only; default `limitForPeriod`. */
  readonly capacity?: number | undefined
}

/** A fresh core whose first cycle (or full bucket, or empty window) starts at `now`. */
export const periodicCore = (settings: PeriodicSettings, now: number): LimiterCore => {
  switch (settings.algorithm) {
    case "fixed-window":
      return new FixedWindow(new PeriodicCycles(now, settings.periodMillis), settings.limitForPeriod, now)
    case "token-bucket":
      return new TokenBucket(
        settings.limitForPeriod / settings.periodMillis,
        settings.capacity ?? settings.limitForPeriod,
        now
      )
    case "sliding-window":
      return new SlidingWindow(settings.periodMillis, settings.limitForPeriod)
  }
}
