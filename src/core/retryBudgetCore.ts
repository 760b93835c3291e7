/**
 * Finagle's `RetryBudget` as a plain class: each request deposits, each retry withdraws, and a retry
 * is allowed while the withdrawals of the last `ttl` stay within
 * `minRetriesPerSecond × ttl + percentCanRetry × deposits of the last ttl`.
 *
 * "The last ttl" is a ring of `SLICES` slices (Finagle's `WindowedAdder` granularity: a tenth of the
 * ttl) measured from the budget's creation; deposits and withdrawals made in the same slice expire
 * together, when the ring has moved `SLICES` slices past it. Time is passed in; nothing here knows
 * Effect or a clock.
 *
 * Guarantees (proved by induction over the ring and property-tested):
 * - whenever a retry is granted, live withdrawals ≤ reserve + percentCanRetry × live deposits (not at
 *   every instant: deposits can expire before the later retries they paid for, which only makes the
 *   budget refuse more);
 * - from creation up to slice K: withdrawals ≤ reserve × (⌊K / SLICES⌋ + 1) + percentCanRetry ×
 *   deposits (see {@link cumulativeBound}).
 *
 * @internal
 */

/** Slices per ttl (Finagle's `WindowedAdder` uses ten). */
export const SLICES = 10

/** Absorbs floating-point noise in `percentCanRetry × deposits` (0.2 × 15 = 3.0000000000000004). */
const EPSILON = 1e-9

/** A budget's validated settings, in plain numbers. */
export interface BudgetSettings {
  readonly ttlMillis: number
  readonly minRetriesPerSecond: number
  /** A fraction: 0.2 = 20%. */
  readonly percentCanRetry: number
}

/** Brands the public budget so that options can check for one without importing its module. */
export const RetryBudgetTypeId: unique symbol = Symbol.for("breakwater/RetryBudget")

/** The synchronous side of a public budget, which `Retry` uses inside its match handlers. */
export interface BudgetHandle {
  readonly name: string
  unsafeDeposit(): void
  unsafeTryWithdraw(): boolean
}

/** Retries always available within one ttl: `minRetriesPerSecond × ttl` (in seconds). */
export const reserveOf = (settings: BudgetSettings): number => settings.minRetriesPerSecond * settings.ttlMillis / 1000

/** The most retries `deposits` allow within one ttl. */
export const retriesAllowed = (settings: BudgetSettings, deposits: number): number =>
  Math.floor(reserveOf(settings) + settings.percentCanRetry * deposits + EPSILON)

/**
 * The most withdrawals a budget can have granted from its creation up to (and including) slice
 * `slice`, given `deposits` in that time: one reserve per started ring turn, plus the percentage.
 */
export const cumulativeBound = (settings: BudgetSettings, slice: number, deposits: number): number =>
  Math.floor(
    reserveOf(settings) * (Math.floor(Math.max(0, slice) / SLICES) + 1) +
      settings.percentCanRetry * deposits + EPSILON
  )

/** The slice (counted from the budget's creation) that `now` falls in. */
export const sliceAt = (settings: BudgetSettings, origin: number, now: number): number =>
  Math.floor((now - origin) * SLICES / settings.ttlMillis)

export class RetryBudgetCore {
  readonly reserve: number
  /** Deposits and withdrawals per slice, as a ring indexed by `slice % SLICES`. */
  private readonly deposited = new Float64Array(SLICES)
  private readonly withdrawn = new Float64Array(SLICES)
  /** The newest slice the ring has been rolled to. */
  private slice = 0
  liveDeposits = 0
  liveWithdrawals = 0
  totalDeposits = 0
  totalWithdrawals = 0
  refusals = 0

  constructor(readonly settings: BudgetSettings, readonly origin: number) {
    this.reserve = reserveOf(settings)
  }

  /** Forgets the slices that have left the ttl. A clock that steps back rolls nothing. */
  roll(now: number): void {
    const target = sliceAt(this.settings, this.origin, now)
    const steps = target - this.slice
    if (steps <= 0) return
    if (steps >= SLICES) {
      this.deposited.fill(0)
      this.withdrawn.fill(0)
      this.liveDeposits = 0
      this.liveWithdrawals = 0
    } else {
      for (let s = this.slice + 1; s <= target; s++) {
        const i = s % SLICES
        this.liveDeposits -= this.deposited[i]!
        this.liveWithdrawals -= this.withdrawn[i]!
        this.deposited[i] = 0
        this.withdrawn[i] = 0
      }
    }
    this.slice = target
  }

  deposit(now: number): void {
    this.roll(now)
    this.deposited[this.slice % SLICES]!++
    this.liveDeposits++
    this.totalDeposits++
  }

  /** Takes one retry if the budget allows it; a refusal is counted. */
  tryWithdraw(now: number): boolean {
    this.roll(now)
    if (this.liveWithdrawals + 1 > this.reserve + this.settings.percentCanRetry * this.liveDeposits + EPSILON) {
      this.refusals++
      return false
    }
    this.withdrawn[this.slice % SLICES]!++
    this.liveWithdrawals++
    this.totalWithdrawals++
    return true
  }

  /** Retries the budget would grant now (Finagle's `balance`). */
  available(now: number): number {
    this.roll(now)
    return Math.max(0, retriesAllowed(this.settings, this.liveDeposits) - this.liveWithdrawals)
  }
}
