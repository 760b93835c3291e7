/**
 * The circuit breaker's state machine, after Resilience4j's `CircuitBreakerStateMachine`.
 *
 * Pure in the sense this project uses: no Effect, no clock, no I/O. Time is an argument; what the
 * shell must act on (transitions, rate-exceeded notices, an Open state whose wait is still to be
 * computed) is left in `outbox` / `openUntilMillis` for it to read. Calls are admitted and recorded
 * synchronously, so one fiber's update can never interleave with another's.
 *
 * Every state change bumps `generation`; a result carries the generation it was admitted in and is
 * dropped when that generation has ended, so a call started in one Closed or HalfOpen period can never
 * leak into the fresh window of the next.
 *
 * @internal
 */
import { CountWindow, failureRate, type SlidingWindow, slowCallRate, TimeWindow } from "./slidingWindow.js"

/** The six states of a Resilience4j circuit breaker. */
export type StateName = "Closed" | "Open" | "HalfOpen" | "Disabled" | "ForcedOpen" | "MetricsOnly"

/** @internal */
export interface MachineConfig {
  readonly failureRateThreshold: number
  readonly slowCallRateThreshold: number
  readonly slowCallDurationThresholdMillis: number
  readonly slidingWindowType: "COUNT_BASED" | "TIME_BASED"
  readonly slidingWindowSize: number
  readonly minimumNumberOfCalls: number
  readonly permittedNumberOfCallsInHalfOpenState: number
  /**
   * The wait in Open after the `attempts`-th consecutive opening, in milliseconds (a number when it is
   * the same every time: no closure per breaker); `undefined` when the
   * shell computes it (a `Schedule`) and sets it with `setOpenUntil`.
   */
  readonly waitInOpenMillis: ((attempts: number) => number) | number | undefined
  /**
   * When the count of consecutive openings goes back to 0: `"on-close"` (Resilience4j) whenever the
   * breaker closes; `"after-closed-as-long-as-open"` (Effect 4) only once it has stayed Closed as long
   * as its last Open period lasted. Default `"on-close"`.
   */
  readonly backoffReset?: BackoffReset | undefined
  /**
   * Whether the windows sum call durations (`totalDurationMillis`): a store reports it; a breaker in
   * process never reads it and saves the memory (8 bytes per call or per second). Default true.
   */
  readonly keepDurations?: boolean | undefined
}

/** See {@link MachineConfig.backoffReset}. */
export type BackoffReset = "on-close" | "after-closed-as-long-as-open"

/** What the shell must publish, in order. */
export type MachineNotice =
  | {
    readonly _tag: "StateTransition"
    readonly from: StateName
    readonly to: StateName
    readonly generation: number
    /** Open → Open with a new wait: the shell re-arms its timers but publishes no transition. */
    readonly internal: boolean
  }
  | { readonly _tag: "FailureRateExceeded"; readonly rate: number }
  | { readonly _tag: "SlowCallRateExceeded"; readonly rate: number }

/** The outcome of `acquire`. */
export const Refused = 0
export const Permitted = 1
/** Permitted as a half-open trial call: a permit is held until its result (or interruption) is reported. */
export const Trial = 2
export type Admission = typeof Refused | typeof Permitted | typeof Trial

/** How a completed call is classified. */
export const Success = 0
export const Failure = 1
/** An ignored error or an interruption: nothing is recorded and a trial permit is given back. */
export const Ignored = 2
export type Outcome = typeof Success | typeof Failure | typeof Ignored

/** The outbox while empty: shared, so an idle machine (one of many thousands) holds no array of its own. */
const NO_NOTICES: Array<MachineNotice> = []

const legal = (from: StateName, to: StateName): boolean =>
  !((from === "Closed" && to === "HalfOpen") || (from === "MetricsOnly" && (to === "Open" || to === "HalfOpen")))

/** @internal */
export class CircuitMachine {
  state: StateName = "Closed"
  generation = 0
  window: SlidingWindow
  numberOfNotPermittedCalls = 0
  /**
   * Consecutive openings, as Resilience4j counts them: each Open (and ForcedOpen) adds one to what the
   * previous state held, HalfOpen keeps it, Closed, Disabled and MetricsOnly hold 0.
   */
  attempts = 0
  /** When Open ends; NaN while the shell is still computing it. */
  openUntilMillis = Number.NaN
  /** When the current (or last) Open period began. */
  openedAtMillis = Number.NaN
  /** The longer Open wait the failure that opened the breaker asked for (a Retry-After hint); 0 if none. */
  openHintMillis = 0
  /** Under `"after-closed-as-long-as-open"`: when a Closed breaker's count of openings goes back to 0. */
  backoffResetAtMillis = Number.NaN
  /** The hint of the result being recorded, read by `enter("Open")`. */
  private pendingHintMillis = 0
  /** Trial permits left in HalfOpen. */
  halfOpenPermits = 0
  /** Read-only outside: notices are added by `notify` and taken by `drain`. */
  outbox: ReadonlyArray<MachineNotice> = NO_NOTICES
  // MetricsOnly reports each rate the first time it is exceeded, independently (as Resilience4j does).
  private failureRateReported = false
  private slowCallRateReported = false
  /**
   * True when the last threshold check of this Closed period, on a window that never ages calls out
   * (a count window), found both rates defined and below their thresholds: then a call that is
   * neither failed nor slow cannot raise either rate (it adds a good call, or replaces one), so
   * recording it needs no check. Cleared by every transition, window change and reconfiguration.
   */
  private belowThresholds = false

  constructor(public config: MachineConfig) {
    this.window = this.freshWindow()
  }

  /**
   * New settings, keeping the state. Thresholds apply from the next recorded call. A Closed or
   * MetricsOnly window is replaced when its type or size changes (its calls are forgotten) and otherwise
   * takes the new minimum; Open and HalfOpen keep their windows and the new settings apply from the
   * next transition.
   */
  reconfigure(config: MachineConfig): void {
    const previous = this.config
    this.config = config
    this.belowThresholds = false
    if (this.state !== "Closed" && this.state !== "MetricsOnly") return
    if (
      previous.slidingWindowType !== config.slidingWindowType || previous.slidingWindowSize !== config.slidingWindowSize
    ) {
      this.window = this.freshWindow()
    } else {
      this.window.setMinimumNumberOfCalls(config.minimumNumberOfCalls)
    }
  }

  private freshWindow(): SlidingWindow {
    const c = this.config
    const keep = c.keepDurations !== false
    return c.slidingWindowType === "COUNT_BASED"
      ? new CountWindow(c.slidingWindowSize, c.minimumNumberOfCalls, keep)
      : new TimeWindow(c.slidingWindowSize, c.minimumNumberOfCalls, keep)
  }

  /** True when `acquire(now)` would refuse, without counting anything. */
  refuses(nowMillis: number): boolean {
    switch (this.state) {
      case "Open":
        return !(nowMillis >= this.openUntilMillis)
      case "ForcedOpen":
        return true
      case "HalfOpen":
        return this.halfOpenPermits <= 0
      default:
        return false
    }
  }

  /** Asks to run a call at `nowMillis`; an Open breaker whose wait is over turns HalfOpen first. */
  acquire(nowMillis: number): Admission {
    switch (this.state) {
      case "Closed":
      case "MetricsOnly":
      case "Disabled":
        return Permitted
      case "ForcedOpen":
        this.numberOfNotPermittedCalls++
        return Refused
      case "Open":
        if (!(nowMillis >= this.openUntilMillis)) {
          this.numberOfNotPermittedCalls++
          return Refused
        }
        this.enter("HalfOpen", nowMillis)
        return this.acquire(nowMillis)
      case "HalfOpen":
        if (this.halfOpenPermits <= 0) {
          this.numberOfNotPermittedCalls++
          return Refused
        }
        this.halfOpenPermits--
        return Trial
    }
  }

  /**
   * Records a completed call admitted in `generation`. Results from an ended generation are dropped;
   * an ignored trial call gives its permit back.
   */
  onResult(generation: number, nowMillis: number, durationMillis: number, outcome: Outcome, hintMillis = 0): void {
    if (generation !== this.generation) return
    const state = this.state
    if (state === "Disabled" || state === "Open" || state === "ForcedOpen") return
    if (outcome === Ignored) {
      if (state === "HalfOpen") this.halfOpenPermits++
      return
    }
    const failed = outcome === Failure
    const slow = durationMillis > this.config.slowCallDurationThresholdMillis
    this.window.record(nowMillis, durationMillis, failed, slow)
    // The common case of a healthy Closed breaker: no rate can have risen (see `belowThresholds`).
    if (this.belowThresholds && !failed && !slow) return
    // Only a failure's hint can lengthen the Open period it causes.
    this.pendingHintMillis = failed ? hintMillis : 0
    this.checkThresholds(nowMillis)
    this.pendingHintMillis = 0
  }

  private checkThresholds(nowMillis: number): void {
    const window = this.window
    if (window.calls < window.minimumNumberOfCalls) return
    const failures = failureRate(window)
    const slowCalls = slowCallRate(window)
    const failuresExceeded = failures >= this.config.failureRateThreshold
    const slowExceeded = slowCalls >= this.config.slowCallRateThreshold
    switch (this.state) {
      case "Closed":
        if (failuresExceeded || slowExceeded) {
          this.reportExceeded(failuresExceeded, failures, slowExceeded, slowCalls)
          this.enter("Open", nowMillis)
        } else {
          // Both rates are defined (at least the minimum of calls, and one) and below their thresholds.
          this.belowThresholds = !window.agesOut && window.calls > 0
        }
        return
      case "HalfOpen":
        this.enter(failuresExceeded || slowExceeded ? "Open" : "Closed", nowMillis)
        return
      case "MetricsOnly":
        // MetricsOnly never transitions; it reports the first time each threshold is crossed.
        this.reportExceeded(
          failuresExceeded && !this.failureRateReported,
          failures,
          slowExceeded && !this.slowCallRateReported,
          slowCalls
        )
        if (failuresExceeded) this.failureRateReported = true
        if (slowExceeded) this.slowCallRateReported = true
        return
      default:
        return
    }
  }

  private reportExceeded(failuresExceeded: boolean, failures: number, slowExceeded: boolean, slowCalls: number) {
    if (failuresExceeded) this.notify({ _tag: "FailureRateExceeded", rate: failures })
    if (slowExceeded) this.notify({ _tag: "SlowCallRateExceeded", rate: slowCalls })
  }

  private notify(notice: MachineNotice): void {
    if (this.outbox === NO_NOTICES) this.outbox = [notice]
    else (this.outbox as Array<MachineNotice>).push(notice)
  }

  /**
   * A manual transition. Returns false for the illegal ones (Closed → HalfOpen, MetricsOnly → Open or
   * HalfOpen); a transition to the current state does nothing, except that an explicit wait
   * (`openUntilMillis`) given to an Open breaker starts a new Open period with that wait, as
   * Resilience4j's `transitionToOpenStateFor` does.
   */
  transitionTo(to: StateName, nowMillis: number, openUntilMillis?: number): boolean {
    if (!legal(this.state, to)) return false
    if (this.state !== to || (to === "Open" && openUntilMillis !== undefined)) {
      this.enter(to, nowMillis, openUntilMillis)
    }
    return true
  }

  /** Back to a fresh Closed state with no memory of past openings. */
  reset(nowMillis: number): void {
    if (this.state !== "Closed") this.enter("Closed", nowMillis)
    else {
      this.generation++
      this.belowThresholds = false
      this.window = this.freshWindow()
      this.numberOfNotPermittedCalls = 0
    }
    this.attempts = 0
    this.backoffResetAtMillis = Number.NaN
  }

  /** Sets the end of the current Open period, if `generation` is still current. */
  setOpenUntil(generation: number, openUntilMillis: number): void {
    if (generation === this.generation && this.state === "Open") this.openUntilMillis = openUntilMillis
  }

  /** How long the last Open period was set to last (hint included); 0 before any. */
  get lastOpenMillis(): number {
    const length = this.openUntilMillis - this.openedAtMillis
    return Number.isFinite(length) ? Math.max(0, length) : 0
  }

  /** Takes the notices accumulated since the last call. */
  drain(): ReadonlyArray<MachineNotice> {
    const notices = this.outbox
    this.outbox = NO_NOTICES
    return notices
  }

  private enter(to: StateName, nowMillis: number, openUntilMillis?: number): void {
    const from = this.state
    this.state = to
    this.generation++
    this.belowThresholds = false
    this.failureRateReported = false
    this.slowCallRateReported = false
    switch (to) {
      case "Open": {
        // Open keeps the metrics it opened with, so an operator can see why it opened.
        if (from === "Closed" && nowMillis >= this.backoffResetAtMillis) this.attempts = 0
        this.attempts++
        const wait = this.config.waitInOpenMillis
        this.openedAtMillis = nowMillis
        this.openHintMillis = openUntilMillis === undefined ? this.pendingHintMillis : 0
        this.openUntilMillis = openUntilMillis ??
          (wait === undefined
            ? Number.NaN
            : nowMillis + Math.max(typeof wait === "number" ? wait : wait(this.attempts), this.openHintMillis))
        break
      }
      case "HalfOpen": {
        const permitted = this.config.permittedNumberOfCallsInHalfOpenState
        this.window = new CountWindow(
          permitted,
          Math.min(this.config.minimumNumberOfCalls, permitted),
          this.config.keepDurations !== false
        )
        this.halfOpenPermits = permitted
        this.numberOfNotPermittedCalls = 0
        break
      }
      default:
        this.window = this.freshWindow()
        this.numberOfNotPermittedCalls = 0
        if (to === "ForcedOpen") this.attempts++
        else if (to === "Closed" && this.config.backoffReset === "after-closed-as-long-as-open") {
          // Effect 4's rule: the count survives the close and goes back to 0 once the breaker has stayed
          // Closed as long as its last Open period lasted (checked when it next opens).
          if (from !== "Closed") this.backoffResetAtMillis = nowMillis + this.lastOpenMillis
        } else this.attempts = 0
    }
    this.notify({ _tag: "StateTransition", from, to, generation: this.generation, internal: from === to })
  }
}
