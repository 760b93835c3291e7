/**
 * The in-process circuit breaker: Resilience4j's state machine (`core/circuitMachine`) driven on
 * Effect's `Clock`, with its timers and wait schedule, kept small enough that a keyed breaker can hold
 * a million of them.
 *
 * @internal
 */
import {
  decodeOptions,
  type DurationInput,
  failureOf,
  interruptNow,
  makeStepper,
  nowMillis,
  type RunningFiber,
  type Stepper,
  toDuration
} from "#port"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import { RefusalProbe } from "../../core/breakerRefusal.js"
import { type Admission, CircuitMachine, Failure, type MachineNotice, Refused } from "../../core/circuitMachine.js"
import { failureRate, slowCallRate } from "../../core/slidingWindow.js"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import { withoutStackTrace } from "../../shared/internal/errors.js"
import { EventHub } from "../../shared/internal/eventHub.js"
import { type LazyScope, scopeOf } from "../../shared/internal/lazyScope.js"
import { CallTimings, currentSpan, spanEvent } from "../../shared/internal/observe.js"
import {
  CallNotPermittedError,
  Event,
  IllegalStateTransitionError,
  type Metrics,
  type Options,
  type State
} from "./circuitBreakerApi.js"
import { CircuitBreakerBase, retryAfterOf } from "./circuitBreakerBase.js"
import { OptionsSchema, type ResolvedOptions } from "./circuitBreakerConfig.js"
import { type Settings, settingsOf } from "./inProcessCircuitSettings.js"

/** The scheduling state of a breaker that has had a timer or a wait schedule (most never have). */
class Pacing {
  timer: RunningFiber<void> | undefined = undefined
  timerToken = 0
  /** The wait schedule's state: made on its first step, dropped to start the schedule over. */
  stepper: Stepper<number> | undefined = undefined
  scheduleSteps = 0
  lastScheduledWait = Duration.toMillis("60 seconds")
}

/** The refusal last built, reused within its millisecond (see `refusal`); kept only once refusing. */
class LastRefusal {
  constructor(
    readonly error: CallNotPermittedError,
    readonly effect: Effect.Effect<never, CallNotPermittedError>,
    readonly at: number,
    readonly openUntil: number
  ) {}
}

/**
 * An in-process breaker. Kept small (a keyed breaker may hold a million of these): what every breaker
 * of a configuration shares is one {@link Settings}; what only some need is made on first use (the
 * event hub, the call timings, the timers' and wait schedule's state, the last refusal).
 */
export class CircuitBreakerImpl<E, A> extends CircuitBreakerBase<E, A> {
  private pacing: Pacing | undefined = undefined
  private eventHub: EventHub<Event> | undefined = undefined
  private timings: CallTimings | undefined = undefined
  private lastRefusal: LastRefusal | undefined = undefined
  readonly machine: CircuitMachine

  constructor(
    readonly name: string,
    private shared: Settings,
    private readonly clock: Clock.Clock,
    /** Where timers and the event buffer live: the breaker's scope, or a keyed breaker key's lazy one. */
    private readonly scope: Scope.Scope | LazyScope
  ) {
    super()
    this.machine = new CircuitMachine(shared.machine)
    if (shared.waitSchedule !== undefined) this.restartSchedule()
  }

  /** The resolved options (shared with every breaker of the same settings: its `name` may be another's). */
  get config(): ResolvedOptions {
    return this.shared.config
  }

  /** Every guard keeps its event hub in `hub` (see `hubOf`); this one is made on first use. */
  get hub(): EventHub<Event> {
    return this.eventHub ?? (this.eventHub = new EventHub<Event>(this.scope))
  }

  /** Cumulative counters for metrics, read on collection (never reset); made on the first call. */
  get calls(): CallTimings {
    return this.timings ?? (this.timings = new CallTimings())
  }

  protected get madeHub(): EventHub<Event> | undefined {
    return this.eventHub
  }

  protected get currentState(): State {
    return this.machine.state
  }

  /** For `isRefusing` (breakerRefusal.ts): a method, so a breaker holds nothing for it. */
  [RefusalProbe](now: number): boolean {
    return this.refusesNow(now)
  }

  /** Open before its wait ends, or ForcedOpen: evicting this breaker would forget a cut-off dependency. */
  refusesNow(now: number): boolean {
    const machine = this.machine
    return machine.state === "ForcedOpen" || (machine.state === "Open" && machine.refuses(now))
  }

  reconfigure(changes: Omit<Options<E, A>, "name">): Effect.Effect<void, InvalidConfigError> {
    return Effect.suspend(() => {
      // The resolved options decode to themselves (the schema only checks and fills in defaults), so
      // they stand in for the options given: the breaker need not keep those.
      const options = { ...this.shared.config, ...changes, name: this.name }
      return Effect.map(decodeOptions(OptionsSchema, "CircuitBreaker", options), (config) => {
        const previous = this.shared
        const settings = settingsOf(config, options)
        this.shared = settings
        if (settings.waitSchedule !== previous.waitSchedule) this.restartSchedule()
        this.machine.reconfigure(settings.machine)
      })
    })
  }

  // ---- guarding calls ----------------------------------------------------------------------------

  guard<A2 extends A, E2 extends E, R>(
    self: Effect.Effect<A2, E2, R>
  ): Effect.Effect<A2, E2 | CallNotPermittedError, R> {
    return Effect.suspend((): Effect.Effect<A2, E2 | CallNotPermittedError, R> => {
      const machine = this.machine
      const state = machine.state
      const span = currentSpan()
      if (span !== undefined) this.annotate(span, state)
      if (state === "Closed" || state === "MetricsOnly") {
        return this.recorded(self, machine.generation, nowMillis(this.clock))
      }
      if (state === "Disabled") return self
      const now = nowMillis(this.clock)
      if (machine.refuses(now)) {
        machine.acquire(now) // counts the refusal
        return this.refuse(now, span)
      }
      return this.trial(self)
    })
  }

  /** Half-open (or about to be): the permit is taken and given back with interruption masked. */
  private trial<A2, E2, R>(self: Effect.Effect<A2, E2, R>): Effect.Effect<A2, E2 | CallNotPermittedError, R> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.suspend((): Effect.Effect<A2, E2 | CallNotPermittedError, R> => {
        const machine = this.machine
        const start = nowMillis(this.clock)
        const admission: Admission = machine.acquire(start)
        const notices = this.process(machine.drain())
        if (admission === Refused) return Effect.andThen(notices, this.refuse(start, currentSpan()))
        return Effect.andThen(notices, this.recorded(restore(self), machine.generation, start))
      })
    )
  }

  private recorded<A2, E2, R>(
    self: Effect.Effect<A2, E2, R>,
    generation: number,
    start: number
  ): Effect.Effect<A2, E2, R> {
    return Effect.matchCauseEffect(self, {
      onSuccess: (value) => {
        const end = nowMillis(this.clock)
        const outcome = this.successOutcome(value, end, end - start, this.shared)
        this.calls.record(outcome, end - start)
        this.machine.onResult(generation, end, end - start, outcome, outcome === Failure ? this.hintMillis(value) : 0)
        const succeed = Effect.succeed(value)
        return this.machine.outbox.length === 0 ? succeed : Effect.andThen(this.settleTransitions(), succeed)
      },
      onFailure: (cause) => {
        const end = nowMillis(this.clock)
        const outcome = this.failureOutcome(cause, end, end - start, this.shared)
        this.calls.record(outcome, end - start)
        const hint = outcome === Failure && this.shared.retryAfterOf !== undefined
          ? Option.match(failureOf(cause), { onNone: () => 0, onSome: (error) => this.hintMillis(error) })
          : 0
        this.machine.onResult(generation, end, end - start, outcome, hint)
        const fail = Effect.failCause(cause)
        return this.machine.outbox.length === 0 ? fail : Effect.andThen(this.settleTransitions(), fail)
      }
    })
  }

  /** The failure's Retry-After hint in milliseconds, capped at `maxRetryAfter`; 0 for none or a bad one. */
  private hintMillis(failure: unknown): number {
    const retryAfterOf = this.shared.retryAfterOf
    if (retryAfterOf === undefined) return 0
    const hint = retryAfterOf(failure)
    if (Option.isNone(hint)) return 0
    const millis = Duration.toMillis(toDuration(hint.value))
    // NaN or negative (a hostile or broken header) asks for nothing; Infinity is capped like any other.
    return millis > 0 ? Math.min(millis, this.shared.maxRetryAfterMillis) : 0
  }

  /**
   * The refusal path of an Open breaker: no allocation in the common case (the failure is prebuilt
   * for the current millisecond, see {@link refusal}), so refusing costs less than passing a call.
   */
  private refuse(now: number, span: Tracer.Span | undefined): Effect.Effect<never, CallNotPermittedError> {
    const machine = this.machine
    const state = machine.state
    this.countRefusal(now, state)
    const failure = this.refusal(now, state, machine.openUntilMillis)
    if (span !== undefined) {
      const error = this.lastRefusal!.error
      span.attribute("breakwater.circuitbreaker.decision", "refused")
      spanEvent(span, now, "breakwater.circuitbreaker.call_not_permitted", {
        "breakwater.circuitbreaker.name": this.name,
        "breakwater.circuitbreaker.state": state,
        "breakwater.retry_after_ms": Option.getOrUndefined(Option.map(error.retryAfter, Duration.toMillis))
      })
    }
    return failure
  }

  /** What a trace shows of this breaker on a guarded call. */
  private annotate(span: Tracer.Span, state: State): void {
    span.attribute("breakwater.circuitbreaker.name", this.name)
    span.attribute("breakwater.circuitbreaker.state", state)
    span.attribute(
      "breakwater.circuitbreaker.decision",
      state === "HalfOpen" || state === "Open" ? "trial" : state === "ForcedOpen" ? "refused" : "permitted"
    )
  }

  /**
   * Building an Error costs more than the rest of a refusal, so refusals in the same millisecond, state
   * and Open period share one (immutable) error, and one prebuilt failure of it: `Effect.fail` would
   * look up the fiber's span for every refusal (`failCause` of a ready `Cause` does not).
   */
  private refusal(now: number, state: State, openUntil: number): Effect.Effect<never, CallNotPermittedError> {
    const last = this.lastRefusal
    if (last !== undefined && last.at === now && last.error.state === state && last.openUntil === openUntil) {
      return last.effect
    }
    const retryAfter = retryAfterOf(state, openUntil, now)
    const error = withoutStackTrace(() => new CallNotPermittedError({ breakerName: this.name, state, retryAfter }))
    const failure = Effect.failCause(Cause.fail(error))
    this.lastRefusal = new LastRefusal(error, failure, now, openUntil)
    return failure
  }

  // ---- reacting to transitions -------------------------------------------------------------------

  /**
   * Reacts to the transitions a call just caused. Uninterruptible: interrupting the caller here would
   * leave an Open state without its end or its timer.
   */
  private settleTransitions(): Effect.Effect<void> {
    return Effect.uninterruptible(this.process(this.machine.drain()))
  }

  /** Publishes the machine's notices in order and starts what the new state needs. */
  private process(notices: ReadonlyArray<MachineNotice>): Effect.Effect<void> {
    if (notices.length === 0) return Effect.void
    return Effect.forEach(notices, (notice) => this.react(notice), { discard: true })
  }

  private react(notice: MachineNotice): Effect.Effect<void> {
    const at = nowMillis(this.clock)
    const breakerName = this.name
    switch (notice._tag) {
      case "FailureRateExceeded":
        return this.publish(Event.FailureRateExceeded({ breakerName, at, failureRate: notice.rate }))
      case "SlowCallRateExceeded":
        return this.publish(Event.SlowCallRateExceeded({ breakerName, at, slowCallRate: notice.rate }))
      case "StateTransition":
        // A notice about a state that has already been left must not touch the current state's timers.
        if (notice.generation !== this.machine.generation) {
          return notice.internal
            ? Effect.void
            : this.publish(Event.StateTransition({ breakerName, at, from: notice.from, to: notice.to }))
        }
        return notice.internal ? this.enter(notice.to, notice.generation, at) : Effect.andThen(
          this.publish(Event.StateTransition({ breakerName, at, from: notice.from, to: notice.to })),
          this.enter(notice.to, notice.generation, at)
        )
    }
  }

  private publish(event: Event): Effect.Effect<void> {
    // No hub yet means no subscriber ever: the event would reach nobody.
    const hub = this.eventHub
    return hub === undefined ? Effect.void : hub.publish(event)
  }

  private enter(state: State, generation: number, at: number): Effect.Effect<void> {
    const machine = this.machine
    switch (state) {
      case "Open":
        return Effect.flatMap(this.openUntil(generation, at), (until) => {
          machine.setOpenUntil(generation, until)
          return this.config.automaticTransitionFromOpenToHalfOpenEnabled && Number.isFinite(until)
            ? this.startTimer(generation, until, "HalfOpen")
            : this.stopTimer
        })
      case "HalfOpen": {
        const maxWait = Duration.toMillis(this.config.maxWaitDurationInHalfOpenState)
        return maxWait > 0 && Number.isFinite(maxWait)
          ? this.startTimer(generation, at + maxWait, this.config.transitionToStateAfterWaitDuration)
          : this.stopTimer
      }
      case "ForcedOpen":
        return this.stopTimer
      default:
        // Closed, Disabled, MetricsOnly: the count of consecutive openings is back to 0 (unless
        // `backoffReset` keeps it past a close), and so is the wait schedule.
        if (machine.attempts === 0) this.restartSchedule()
        return this.stopTimer
    }
  }

  /** When the Open period that began at `at` ends: fixed, explicit, or the wait schedule's next step. */
  private openUntil(generation: number, at: number): Effect.Effect<number> {
    const machine = this.machine
    if (this.shared.waitSchedule === undefined || machine.generation !== generation) {
      return Effect.succeed(machine.openUntilMillis)
    }
    // The wait is the schedule's `attempts`-th delay, as Resilience4j's interval function of attempts:
    // the schedule steps once per consecutive opening, even when a manual transition set its own wait.
    return Effect.map(
      this.stepScheduleTo(machine.attempts, at),
      () =>
        Number.isNaN(machine.openUntilMillis)
          ? at + Math.max(this.pacingState.lastScheduledWait, machine.openHintMillis)
          : machine.openUntilMillis
    )
  }

  /** The scheduling state, made when the breaker first needs it. */
  private get pacingState(): Pacing {
    return this.pacing ?? (this.pacing = new Pacing())
  }

  private stepScheduleTo(attempts: number, at: number): Effect.Effect<void> {
    const schedule = this.shared.waitSchedule
    const pacing = this.pacingState
    // The count went back to 0 since the schedule last stepped (`backoffReset`): replay from its start.
    if (pacing.scheduleSteps > attempts) this.restartSchedule()
    if (schedule === undefined || pacing.scheduleSteps >= attempts) return Effect.void
    const stepper = pacing.stepper
    if (stepper === undefined) {
      return Effect.flatMap(makeStepper(schedule), (made) => {
        pacing.stepper = made
        return this.stepScheduleTo(attempts, at)
      })
    }
    return Effect.flatMap(stepper(at, pacing.scheduleSteps + 1), (start) => {
      pacing.scheduleSteps++
      // A schedule that is done keeps its last wait.
      if (Number.isFinite(start)) pacing.lastScheduledWait = Math.max(0, start - at)
      return this.stepScheduleTo(attempts, at)
    })
  }

  private restartSchedule(): void {
    const schedule = this.shared.waitSchedule
    // Nothing to restart for a breaker that never had a schedule.
    if (schedule === undefined && this.pacing === undefined) return
    const pacing = this.pacingState
    pacing.stepper = undefined
    pacing.scheduleSteps = 0
  }

  private startTimer(generation: number, atMillis: number, to: State): Effect.Effect<void> {
    return Effect.suspend(() => {
      const pacing = this.pacingState
      const token = ++pacing.timerToken
      const fire = Effect.suspend(() => {
        if (pacing.timerToken === token) pacing.timer = undefined
        const machine = this.machine
        if (machine.generation !== generation) return Effect.void
        machine.transitionTo(to, nowMillis(this.clock))
        return this.process(machine.drain())
      })
      const timer = this.clock.sleep(Duration.millis(Math.max(0, atMillis - nowMillis(this.clock)))).pipe(
        Effect.andThen(Effect.uninterruptible(fire))
      )
      return Effect.andThen(
        this.stopTimerKeepingToken(),
        // Transitions run uninterruptibly; the timer they start must stay interruptible.
        Effect.flatMap(
          scopeOf(this.scope),
          (scope) =>
            Effect.map(Effect.forkIn(Effect.interruptible(timer), scope), (fiber) => {
              if (pacing.timerToken === token) pacing.timer = fiber
            })
        )
      )
    })
  }

  private stopTimerKeepingToken(): Effect.Effect<void> {
    const pacing = this.pacing
    const timer = pacing?.timer
    if (timer === undefined) return Effect.void
    pacing!.timer = undefined
    return Effect.sync(() => interruptNow(timer))
  }

  // The effects below are getters, not fields: an idle breaker (one of many thousands, keyed per
  // target) should not hold a dozen prebuilt effects.
  private get stopTimer(): Effect.Effect<void> {
    return Effect.suspend(() => {
      // A breaker that never started a timer has none to stop, nor a pending start to cancel.
      const pacing = this.pacing
      if (pacing === undefined) return Effect.void
      pacing.timerToken++
      return this.stopTimerKeepingToken()
    })
  }

  // ---- reading and steering ----------------------------------------------------------------------

  get metrics(): Effect.Effect<Metrics> {
    return Effect.sync(() => {
      const machine = this.machine
      const window = machine.window
      window.roll(nowMillis(this.clock))
      return {
        failureRate: failureRate(window),
        slowCallRate: slowCallRate(window),
        numberOfBufferedCalls: window.calls,
        numberOfFailedCalls: window.failed,
        numberOfSlowCalls: window.slow,
        numberOfSlowFailedCalls: window.slowFailed,
        numberOfSlowSuccessfulCalls: window.slow - window.slowFailed,
        numberOfSuccessfulCalls: window.calls - window.failed,
        numberOfNotPermittedCalls: machine.numberOfNotPermittedCalls,
        consecutiveOpenings: machine.attempts
      }
    })
  }

  protected transition(to: State, openUntilMillis?: number): Effect.Effect<void, IllegalStateTransitionError> {
    return Effect.uninterruptible(Effect.suspend(() => {
      const machine = this.machine
      const from = machine.state
      if (!machine.transitionTo(to, nowMillis(this.clock), openUntilMillis)) {
        return Effect.fail(new IllegalStateTransitionError({ breakerName: this.name, from, to }))
      }
      return this.process(machine.drain())
    }))
  }

  // Getters returning functions (not function fields): callable detached like fields, held by none.
  get transitionToOpenStateFor() {
    return (duration: DurationInput) =>
      Effect.suspend(() => this.transition("Open", nowMillis(this.clock) + Duration.toMillis(duration)))
  }
  get transitionToOpenStateUntil() {
    return (epochMillis: number) => this.transition("Open", epochMillis)
  }

  get reset(): Effect.Effect<void> {
    return Effect.uninterruptible(Effect.suspend(() => {
      const machine = this.machine
      const at = nowMillis(this.clock)
      machine.reset(at)
      this.restartSchedule()
      return Effect.andThen(this.process(machine.drain()), this.publish(Event.Reset({ breakerName: this.name, at })))
    }))
  }
}
