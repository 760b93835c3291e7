/**
 * A deliberately naive circuit breaker, written from Resilience4j's rules (../shared/REFERENCE.md)
 * and the issue's decisions, to check the real one against. Nothing here is shared with `src/` but the
 * metrics' type:
 * windows are plain arrays of every recorded call, and every aggregate is recomputed from scratch by
 * filtering them, so it is slow and obviously correct.
 */
import type { CircuitBreaker } from "breakwater"

export type StateName = "Closed" | "Open" | "HalfOpen" | "Disabled" | "ForcedOpen" | "MetricsOnly"

/** How a test call ends. */
export type CallOutcome =
  | "success" // a plain success
  | "failure" // a recorded typed error
  | "ignored" // a typed error `ignoreError` accepts
  | "benign" // a typed error `recordError` rejects: counts as a success
  | "defect" // a defect: a failure
  | "badResult" // a success value `recordResult` accepts: a failure
  | "interrupt" // interruption: ignored

export type Classification = "success" | "failure" | "ignored"

export const classify = (outcome: CallOutcome): Classification => {
  switch (outcome) {
    case "success":
    case "benign":
      return "success"
    case "failure":
    case "defect":
    case "badResult":
      return "failure"
    case "ignored":
    case "interrupt":
      return "ignored"
  }
}

export interface ReferenceConfig {
  readonly slidingWindowType: "COUNT_BASED" | "TIME_BASED"
  readonly slidingWindowSize: number
  readonly minimumNumberOfCalls: number
  readonly failureRateThreshold: number
  readonly slowCallRateThreshold: number
  readonly slowCallDurationThresholdMillis: number
  readonly permittedNumberOfCallsInHalfOpenState: number
  readonly waitDurationInOpenStateMillis: number
  /**
   * When true the breaker is given `Schedule.exponential(waitDurationInOpenState)`: the wait after the
   * n-th consecutive opening is base × 2^(n-1).
   */
  readonly exponentialWaitInOpenState: boolean
  readonly automaticTransitionFromOpenToHalfOpenEnabled: boolean
  /** 0 = no limit. */
  readonly maxWaitDurationInHalfOpenStateMillis: number
  readonly transitionToStateAfterWaitDuration: "Open" | "Closed"
}

/** The breaker's own metrics shape: the model computes the same fields from scratch. */
export type ReferenceMetrics = CircuitBreaker.Metrics

interface RecordedCall {
  readonly endedAt: number
  readonly durationMillis: number
  readonly failed: boolean
  readonly slow: boolean
}

/** Every call recorded since the window started; what is "inside" is decided when reading. */
interface Window {
  readonly kind: "count" | "time"
  readonly size: number
  readonly minimum: number
  readonly recorded: Array<RecordedCall>
}

/** A call the model admitted: when, in which state period, and whether its result can be recorded. */
export interface Ticket {
  readonly period: number
  readonly startedAt: number
  readonly recordable: boolean
}

const second = (millis: number) => Math.floor(millis / 1000)

export class ReferenceBreaker {
  state: StateName = "Closed"
  /** Bumped on every change of state (and by reset): a result from an older period is dropped. */
  period = 0
  now = 0
  notPermitted = 0
  openUntil = Number.NaN
  halfOpenSince = Number.NaN
  permitsLeft = 0
  /**
   * Consecutive openings, as Resilience4j counts them: an Open state holds attempts + 1 of the state
   * it came from, HalfOpen inherits Open's, ForcedOpen holds attempts + 1, and Closed, Disabled and
   * MetricsOnly hold 0.
   */
  attempts = 0
  window: Window
  /** A log of transitions, for diagnostics. */
  readonly log: Array<string> = []

  constructor(readonly config: ReferenceConfig) {
    this.window = this.closedWindow()
  }

  private closedWindow(): Window {
    const c = this.config
    return c.slidingWindowType === "COUNT_BASED"
      // A count window can never hold more calls than its size, so the minimum is capped at it.
      ? {
        kind: "count",
        size: c.slidingWindowSize,
        minimum: Math.min(c.minimumNumberOfCalls, c.slidingWindowSize),
        recorded: []
      }
      : { kind: "time", size: c.slidingWindowSize, minimum: c.minimumNumberOfCalls, recorded: [] }
  }

  /** The calls inside the window at `now`. */
  private inside(): Array<RecordedCall> {
    const w = this.window
    if (w.kind === "count") return w.recorded.slice(Math.max(0, w.recorded.length - w.size))
    const current = second(this.now)
    return w.recorded.filter((call) => second(call.endedAt) > current - w.size)
  }

  metrics(): ReferenceMetrics {
    const calls = this.inside()
    const failed = calls.filter((c) => c.failed).length
    const slow = calls.filter((c) => c.slow).length
    const slowFailed = calls.filter((c) => c.slow && c.failed).length
    const enough = calls.length >= this.window.minimum && calls.length > 0
    return {
      failureRate: enough ? (failed * 100) / calls.length : -1,
      slowCallRate: enough ? (slow * 100) / calls.length : -1,
      numberOfBufferedCalls: calls.length,
      numberOfFailedCalls: failed,
      numberOfSlowCalls: slow,
      numberOfSlowFailedCalls: slowFailed,
      numberOfSlowSuccessfulCalls: slow - slowFailed,
      numberOfSuccessfulCalls: calls.length - failed,
      numberOfNotPermittedCalls: this.notPermitted
    }
  }

  // ---- time ---------------------------------------------------------------------------------------

  /** The next timer the breaker has running, if any. */
  nextTimer(): number | undefined {
    if (this.state === "Open" && this.config.automaticTransitionFromOpenToHalfOpenEnabled) return this.openUntil
    if (this.state === "HalfOpen" && this.config.maxWaitDurationInHalfOpenStateMillis > 0) {
      return this.halfOpenSince + this.config.maxWaitDurationInHalfOpenStateMillis
    }
    return undefined
  }

  /** Moves the clock to `target`, firing every timer due on the way at its own instant. */
  advanceTo(target: number): void {
    for (;;) {
      const due = this.nextTimer()
      if (due === undefined || due > target) break
      this.now = Math.max(this.now, due)
      if (this.state === "Open") this.enter("HalfOpen", "timer")
      else this.enter(this.config.transitionToStateAfterWaitDuration, "timer")
    }
    this.now = target
  }

  // ---- calls --------------------------------------------------------------------------------------

  /** Asks for a call at `now`: a ticket, or undefined when refused. */
  admit(): Ticket | undefined {
    switch (this.state) {
      case "Closed":
      case "MetricsOnly":
        return { period: this.period, startedAt: this.now, recordable: true }
      case "Disabled":
        return { period: this.period, startedAt: this.now, recordable: false }
      case "ForcedOpen":
        this.notPermitted++
        return undefined
      case "Open":
        // The wait is over at openUntil itself (>=), not strictly after.
        if (this.now >= this.openUntil) {
          this.enter("HalfOpen", "first call after the wait")
          return this.admit()
        }
        this.notPermitted++
        return undefined
      case "HalfOpen":
        if (this.permitsLeft <= 0) {
          this.notPermitted++
          return undefined
        }
        this.permitsLeft--
        return { period: this.period, startedAt: this.now, recordable: true }
    }
  }

  /** Reports the result of an admitted call at `now`. */
  complete(ticket: Ticket, outcome: CallOutcome): void {
    if (ticket.period !== this.period || !ticket.recordable) return
    const kind = classify(outcome)
    if (kind === "ignored") {
      if (this.state === "HalfOpen") this.permitsLeft++
      return
    }
    const durationMillis = this.now - ticket.startedAt
    this.window.recorded.push({
      endedAt: this.now,
      durationMillis,
      failed: kind === "failure",
      slow: durationMillis > this.config.slowCallDurationThresholdMillis
    })
    const m = this.metrics()
    if (m.numberOfBufferedCalls < this.window.minimum) return
    const exceeded = m.failureRate >= this.config.failureRateThreshold ||
      m.slowCallRate >= this.config.slowCallRateThreshold
    if (this.state === "Closed" && exceeded) this.enter("Open", `rates ${m.failureRate}/${m.slowCallRate}`)
    else if (this.state === "HalfOpen") {
      this.enter(exceeded ? "Open" : "Closed", `rates ${m.failureRate}/${m.slowCallRate}`)
    }
  }

  // ---- steering -----------------------------------------------------------------------------------

  static legal(from: StateName, to: StateName): boolean {
    if (from === "Closed" && to === "HalfOpen") return false
    if (from === "MetricsOnly" && (to === "Open" || to === "HalfOpen")) return false
    return true
  }

  /**
   * A manual transition: false when illegal; the same state is a no-op, except that an Open breaker
   * told to stay open for an explicit duration starts a new Open period with that wait (as
   * Resilience4j's `transitionToOpenStateFor` does).
   */
  transitionTo(to: StateName, openForMillis?: number): boolean {
    if (!ReferenceBreaker.legal(this.state, to)) return false
    if (to !== this.state || (to === "Open" && openForMillis !== undefined)) this.enter(to, "manual", openForMillis)
    return true
  }

  reset(): void {
    this.state = "Closed"
    this.period++
    this.window = this.closedWindow()
    this.notPermitted = 0
    this.attempts = 0
    this.log.push(`${this.now}: reset`)
  }

  private enter(to: StateName, why: string, openForMillis?: number): void {
    this.log.push(`${this.now}: ${this.state} -> ${to} (${why})`)
    this.state = to
    this.period++
    switch (to) {
      case "Open": {
        // Open keeps the window (and refusal count) it opened with.
        this.attempts++
        const base = this.config.waitDurationInOpenStateMillis
        const wait = this.config.exponentialWaitInOpenState ? base * 2 ** (this.attempts - 1) : base
        this.openUntil = this.now + (openForMillis ?? wait)
        return
      }
      case "ForcedOpen":
        this.attempts++
        this.window = this.closedWindow()
        this.notPermitted = 0
        return
      case "HalfOpen": {
        const permitted = this.config.permittedNumberOfCallsInHalfOpenState
        this.window = {
          kind: "count",
          size: permitted,
          minimum: Math.min(this.config.minimumNumberOfCalls, permitted),
          recorded: []
        }
        this.permitsLeft = permitted
        this.notPermitted = 0
        this.halfOpenSince = this.now
        return
      }
      default:
        this.attempts = 0
        this.window = this.closedWindow()
        this.notPermitted = 0
    }
  }
}
