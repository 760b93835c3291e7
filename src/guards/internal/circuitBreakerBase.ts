/**
 * What the in-process breaker (`circuitBreakerImpl`) and the shared one (`distributedCircuitBreaker`)
 * do alike, written once: reading the state and the event streams, the manual transitions (each
 * subclass says how it moves), and how a guarded call's outcome is classified and published. They
 * differ in where the state lives (a local machine, or a cached copy of a store's), not in these rules.
 *
 * @internal
 */
import { defectOf, type DurationInput, failureOf, isInterruptOnly } from "#port"
import type * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import { Failure, Ignored, type Outcome, Success } from "../../core/circuitMachine.js"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import type { EventHub } from "../../shared/internal/eventHub.js"
import {
  type CircuitBreaker,
  Event,
  type IllegalStateTransitionError,
  type Metrics,
  type Options,
  type State
} from "./circuitBreakerApi.js"
import type { ResolvedOptions } from "./circuitBreakerConfig.js"

/** The state a `StateTransition` event moves to; none for every other event. */
export const transitionTarget = (event: Event): Option.Option<State> =>
  event._tag === "StateTransition" ? Option.some(event.to) : Option.none()

/** The options' predicates on a call's outcome, untyped once decoded. */
export interface CallPredicates {
  readonly recordError: ((error: unknown) => boolean) | undefined
  readonly ignoreError: ((error: unknown) => boolean) | undefined
  readonly recordResult: ((value: unknown) => boolean) | undefined
}

export const predicatesOf = (config: ResolvedOptions): CallPredicates => ({
  recordError: config.recordError as ((error: unknown) => boolean) | undefined,
  ignoreError: config.ignoreError as ((error: unknown) => boolean) | undefined,
  recordResult: config.recordResult as ((value: unknown) => boolean) | undefined
})

/** How long until a trial call may be admitted: known only in Open with a finite wait. */
export const retryAfterOf = (state: State, openUntil: number, now: number): Option.Option<Duration.Duration> =>
  state === "Open" && Number.isFinite(openUntil)
    ? Option.some(Duration.millis(Math.max(0, openUntil - now)))
    : Option.none()

export abstract class CircuitBreakerBase<E, A> implements CircuitBreaker<E, A> {
  abstract readonly name: string
  /** The breaker's event hub (the in-process breaker makes its own on first use). */
  abstract readonly hub: EventHub<Event>
  /** The hub if it exists yet: an event for a hub nobody asked for would reach nobody. */
  protected abstract readonly madeHub: EventHub<Event> | undefined
  /** The state calls are decided in: the local machine's, or the cached copy of the shared one. */
  protected abstract readonly currentState: State
  /** A manual transition, refused where Resilience4j forbids it. */
  protected abstract transition(to: State): Effect.Effect<void, IllegalStateTransitionError>
  // Each breaker opens for a while its own way: the in-process one until a time of its `Clock`, the
  // shared one for a duration (the store counts it on its own clock).
  abstract readonly transitionToOpenStateFor: (
    duration: DurationInput
  ) => Effect.Effect<void, IllegalStateTransitionError>
  abstract readonly transitionToOpenStateUntil: (
    epochMillis: number
  ) => Effect.Effect<void, IllegalStateTransitionError>
  abstract readonly metrics: Effect.Effect<Metrics>
  abstract readonly reset: Effect.Effect<void>
  abstract reconfigure(changes: Omit<Options<E, A>, "name">): Effect.Effect<void, InvalidConfigError>

  /** Calls refused by this instance (a shared breaker's store counts its own as well). */
  notPermittedCalls = 0

  get kind(): "CircuitBreaker" {
    return "CircuitBreaker"
  }

  // The effects below are getters, not fields: an idle breaker (one of many thousands, keyed per
  // target) should not hold a dozen prebuilt effects.

  get state(): Effect.Effect<State> {
    return Effect.sync(() => this.currentState)
  }

  get events(): Stream.Stream<Event> {
    return this.hub.stream
  }

  get subscribe(): Effect.Effect<Stream.Stream<Event>, never, Scope.Scope> {
    return this.hub.subscribed
  }

  get stateChanges(): Stream.Stream<State> {
    return this.hub.changes(() => this.currentState, transitionTarget)
  }

  get subscribeStateChanges(): Effect.Effect<Stream.Stream<State>, never, Scope.Scope> {
    return this.hub.subscribedChanges(() => this.currentState, transitionTarget)
  }

  get transitionToOpen() {
    return this.transition("Open")
  }
  get transitionToHalfOpen() {
    return this.transition("HalfOpen")
  }
  // Resilience4j permits these from every state: no `IllegalStateTransitionError` to declare.
  get transitionToClosed() {
    return this.transition("Closed") as Effect.Effect<void>
  }
  get transitionToDisabled() {
    return this.transition("Disabled") as Effect.Effect<void>
  }
  get transitionToForcedOpen() {
    return this.transition("ForcedOpen") as Effect.Effect<void>
  }
  get transitionToMetricsOnly() {
    return this.transition("MetricsOnly") as Effect.Effect<void>
  }

  // ---- a call's outcome ----------------------------------------------------------------------------

  /** Per-call events go to subscribers of every event, and are not published in Disabled and ForcedOpen. */
  protected get publishesCallEvents(): boolean {
    const hub = this.madeHub
    if (hub === undefined || hub.subscribers === 0) return false
    const state = this.currentState
    return state !== "Disabled" && state !== "ForcedOpen"
  }

  /** A call that returned `value`: a failure when `recordResult` says so, else a success; published. */
  protected successOutcome(value: unknown, at: number, durationMillis: number, predicates: CallPredicates): Outcome {
    const rejected = predicates.recordResult !== undefined && predicates.recordResult(value)
    if (this.publishesCallEvents) {
      const breakerName = this.name
      const duration = Duration.millis(durationMillis)
      this.hub.unsafeOffer(
        rejected
          ? Event.Error({ breakerName, at, duration, error: value, kind: "Result" })
          : Event.Success({ breakerName, at, duration })
      )
    }
    return rejected ? Failure : Success
  }

  /**
   * A call that failed with `cause`: interruption is ignored (it frees a permit and records nothing), a
   * typed error counts as `ignoreError` then `recordError` say, a defect is a failure; published.
   */
  protected failureOutcome(
    cause: Cause.Cause<unknown>,
    at: number,
    durationMillis: number,
    predicates: CallPredicates
  ): Outcome {
    if (isInterruptOnly(cause)) return Ignored
    const failure = failureOf(cause)
    let outcome: Outcome = Failure
    let error: unknown
    if (Option.isSome(failure)) {
      error = failure.value
      const { ignoreError, recordError } = predicates
      if (ignoreError !== undefined && ignoreError(error)) outcome = Ignored
      else if (recordError !== undefined && !recordError(error)) outcome = Success
    } else {
      error = Option.getOrUndefined(defectOf(cause))
    }
    if (this.publishesCallEvents) {
      const duration = Duration.millis(durationMillis)
      const breakerName = this.name
      this.hub.unsafeOffer(
        outcome === Ignored
          ? Event.IgnoredError({ breakerName, at, duration, error })
          : outcome === Success
          ? Event.Success({ breakerName, at, duration })
          : Event.Error({ breakerName, at, duration, error, kind: Option.isSome(failure) ? "Failure" : "Defect" })
      )
    }
    return outcome
  }

  /** Counts a refusal and tells whoever listens (ForcedOpen refuses everything: nothing to tell). */
  protected countRefusal(at: number, state: State): void {
    this.notPermittedCalls++
    const hub = this.madeHub
    if (hub !== undefined && hub.listening && state !== "ForcedOpen") {
      hub.unsafeOffer(Event.CallNotPermitted({ breakerName: this.name, at, state }))
    }
  }
}
