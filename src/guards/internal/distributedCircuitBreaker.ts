/**
 * The circuit breaker whose state lives in a shared `CircuitBreakerStore` (e.g. Redis), made by
 * `CircuitBreaker.make` when a `Store` is provided.
 *
 * - Admission reads a locally cached copy of the shared state, kept fresh by the store's published
 *   changes and by the reply of every operation: Closed admits and Open refuses (until the shared
 *   open-until) with no round trip; HalfOpen leases a trial permit (one round trip); each completed call
 *   is recorded (one round trip, awaited before the call's result is returned, in order).
 * - Consequence: after one instance trips the circuit, another may admit calls until the change reaches
 *   it (one pub/sub delivery, or its own next record's reply).
 * - While the store fails, `onStoreFailure` decides: `local-fallback` runs the same protocol on an
 *   in-memory store seeded with the last shared state; `fail-open` admits; `fail-closed` refuses with a
 *   `CallNotPermittedError` carrying the `StoreError`. The shared store is probed again at most once per
 *   `PROBE_MILLIS`; when it answers, the shared state is read and followed again.
 *
 * The whole `CircuitBreaker` interface over a store, as `CircuitBreakerImpl` (circuitBreakerImpl.ts) is
 * in process, in two layers: `DistributedCircuitState` (distributedCircuitState.ts) keeps the cached copy
 * of the shared state; this class guards calls and steers the circuit with it. What both breakers do
 * alike comes from `CircuitBreakerBase`; the settings sent to the store are computed in
 * sharedCircuitSettings.ts, the state rules live in the store.
 *
 * @internal
 */
import { decodeOptions, type DurationInput, forkDetach, interruptNow, withClock } from "#port"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { Failure, type Outcome, Success } from "../../core/circuitMachine.js"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import { withoutStackTrace } from "../../shared/internal/errors.js"
import { currentSpan } from "../../shared/internal/observe.js"
import type { CallOutcome, CircuitSnapshot } from "../../store/CircuitBreakerStore.js"
import type { StoreError } from "../../store/Store.js"
import {
  CallNotPermittedError,
  type CircuitBreaker,
  IllegalStateTransitionError,
  type Metrics,
  type Options,
  type State
} from "./circuitBreakerApi.js"
import { type CallPredicates, predicatesOf, retryAfterOf } from "./circuitBreakerBase.js"
import { OptionsSchema } from "./circuitBreakerConfig.js"
import { DistributedCircuitState, type DistributedDeps } from "./distributedCircuitState.js"
import { settingsOf } from "./sharedCircuitSettings.js"

const rate = (count: number, s: CircuitSnapshot) =>
  s.calls < s.minimumNumberOfCalls || s.calls === 0 ? -1 : (count * 100) / s.calls

/** The store's name for a call's outcome. */
const storeOutcome = (outcome: Outcome): CallOutcome =>
  outcome === Success ? "Success" : outcome === Failure ? "Failure" : "Ignored"

/** Guards calls and steers the circuit through the store, with the cached state to decide from. */
export class DistributedCircuitBreaker<E, A> extends DistributedCircuitState<E, A> {
  private options: Options<E, A>
  private predicates: CallPredicates
  private leaseCounter = 0
  private readonly instanceId = Math.random().toString(36).slice(2, 10)

  constructor(deps: DistributedDeps) {
    super(deps)
    this.options = deps.options as Options<E, A>
    this.predicates = predicatesOf(deps.config)
  }

  // ---- guarding calls ----------------------------------------------------------------------------

  guard<A2 extends A, E2 extends E, R>(
    self: Effect.Effect<A2, E2, R>
  ): Effect.Effect<A2, E2 | CallNotPermittedError, R> {
    return Effect.suspend(() => {
      const span = currentSpan()
      if (span !== undefined) {
        span.attribute("breakwater.circuitbreaker.name", this.name)
        span.attribute("breakwater.circuitbreaker.state", this.snapshot.state)
        span.attribute("breakwater.circuitbreaker.store", this.lost === undefined ? this.storeName : this.mode)
      }
      if (this.lost === undefined) return this.admit(self)
      return Effect.flatMap(this.probe(), (answered) => {
        if (answered) return this.admit(self)
        this.storeUnavailableCalls[this.mode]++
        if (this.mode === "local-fallback") return this.admit(self)
        return this.mode === "fail-open" ? self : this.refuse(this.now(), this.lost?.error)
      })
    })
  }

  /** Decides from the cached state; only HalfOpen (or an Open whose wait is over) asks the store first. */
  private admit<A2 extends A, E2 extends E, R>(
    self: Effect.Effect<A2, E2, R>
  ): Effect.Effect<A2, E2 | CallNotPermittedError, R> {
    const snapshot = this.snapshot
    switch (snapshot.state) {
      case "Disabled":
        return self
      case "Closed":
      case "MetricsOnly":
        return this.source === "fallback" ? this.trial(self) : this.recorded(self, snapshot.generation, undefined)
      case "ForcedOpen":
        return this.refuse(this.now(), undefined)
      case "Open": {
        const now = this.now()
        if (now < this.openUntil) return this.refuse(now, undefined)
        return this.trial(self)
      }
      case "HalfOpen":
        return this.trial(self)
    }
  }

  /** One round trip for a permit (a leased trial in HalfOpen), with interruption masked. */
  private trial<A2 extends A, E2 extends E, R>(
    self: Effect.Effect<A2, E2, R>
  ): Effect.Effect<A2, E2 | CallNotPermittedError, R> {
    return Effect.uninterruptibleMask((restore) => {
      const leaseId = `${this.instanceId}:${++this.leaseCounter}`
      return this.call(
        (store) => store.acquire(this.name, this.settings, leaseId),
        (reply): Effect.Effect<A2, E2 | CallNotPermittedError, R> => {
          switch (reply.admission) {
            case "Refused":
              return this.refuse(this.now(), undefined)
            case "Trial":
              return this.recorded(this.renewing(restore(self), leaseId), reply.snapshot.generation, leaseId)
            case "Permitted":
              return reply.snapshot.state === "Disabled"
                ? restore(self)
                : this.recorded(restore(self), reply.snapshot.generation, undefined)
          }
        },
        (error) => {
          this.storeUnavailableCalls[this.mode]++
          return this.mode === "fail-open" ? restore(self) : this.refuse(this.now(), error)
        }
      )
    })
  }

  /**
   * Runs a trial call while renewing its lease every half lease, so that a slow trial keeps its permit
   * (one round trip per renewal; a failed renewal is left to the lease's expiry and the record).
   */
  private renewing<A2, E2, R>(self: Effect.Effect<A2, E2, R>, leaseId: string): Effect.Effect<A2, E2, R> {
    const store = this.source === "shared" ? this.store : this.fallback
    const settings = this.settings
    const every = Duration.millis(Math.max(1, Math.floor(settings.leaseMillis / 2)))
    const renew = Effect.ignore(withClock(store.renew(this.name, settings, leaseId), this.clock))
    const loop = Effect.interruptible(Effect.forever(Effect.andThen(this.clock.sleep(every), renew)))
    return Effect.flatMap(
      forkDetach(loop),
      (renewer) => Effect.ensuring(self, Effect.sync(() => interruptNow(renewer)))
    )
  }

  private recorded<A2 extends A, E2 extends E, R>(
    self: Effect.Effect<A2, E2, R>,
    generation: number,
    leaseId: string | undefined
  ): Effect.Effect<A2, E2, R> {
    const start = this.now()
    const incarnation = this.snapshot.incarnation
    const admittedBy = this.source === "shared" ? this.store : this.fallback
    return Effect.onExit(self, (exit) => {
      const end = this.now()
      const duration = end - start
      const outcome = exit._tag === "Success"
        ? this.successOutcome(exit.value, end, duration, this.predicates)
        : this.failureOutcome(exit.cause, end, duration, this.predicates)
      this.calls.record(outcome, duration)
      return this.call(
        (store) =>
          store.record(this.name, this.settings, {
            // Admitted by the other store (the outage began or ended during the call): count it in the
            // current period of this one rather than drop it.
            generation: store === admittedBy ? generation : this.snapshot.generation,
            incarnation: store === admittedBy ? incarnation : this.snapshot.incarnation,
            durationMillis: duration,
            outcome: storeOutcome(outcome),
            leaseId
          }),
        () => Effect.void,
        () => Effect.void
      )
    })
  }

  private refuse(now: number, storeError: StoreError | undefined): Effect.Effect<never, CallNotPermittedError> {
    const state = this.snapshot.state
    this.countRefusal(now, state)
    this.localNotPermitted++
    const retryAfter = storeError === undefined ? retryAfterOf(state, this.openUntil, now) : Option.none()
    return Effect.fail(
      withoutStackTrace(() =>
        new CallNotPermittedError(
          storeError === undefined
            ? { breakerName: this.name, state, retryAfter }
            : { breakerName: this.name, state, retryAfter, cause: storeError }
        )
      )
    )
  }

  // ---- reading and steering ----------------------------------------------------------------------

  get metrics(): Effect.Effect<Metrics> {
    return Effect.sync(() => {
      const s = this.snapshot
      return {
        failureRate: rate(s.failed, s),
        slowCallRate: rate(s.slow, s),
        numberOfBufferedCalls: s.calls,
        numberOfFailedCalls: s.failed,
        numberOfSlowCalls: s.slow,
        numberOfSlowFailedCalls: s.slowFailed,
        numberOfSlowSuccessfulCalls: s.slow - s.slowFailed,
        numberOfSuccessfulCalls: s.calls - s.failed,
        numberOfNotPermittedCalls: s.notPermitted + this.localNotPermitted,
        storeOutages: this.storeOutages,
        storeUnavailableCalls: this.storeUnavailableCalls["local-fallback"] +
          this.storeUnavailableCalls["fail-open"] + this.storeUnavailableCalls["fail-closed"],
        settingsMismatches: this.settingsMismatches,
        storeStatesDiscarded: this.statesDiscarded
      }
    })
  }

  /** Manual transitions go to the shared store (or, during an outage, to the fallback only). */
  protected transition(to: State, openForMillis?: number): Effect.Effect<void, IllegalStateTransitionError> {
    return Effect.uninterruptible(Effect.suspend(() => {
      const from = this.snapshot.state
      return this.call(
        (store) => store.transition(this.name, this.settings, to, openForMillis),
        (reply): Effect.Effect<void, IllegalStateTransitionError> =>
          reply.permitted ? Effect.void : Effect.fail(
            new IllegalStateTransitionError({ breakerName: this.name, from: reply.snapshot.state, to })
          ),
        (): Effect.Effect<void, IllegalStateTransitionError> =>
          // fail-open / fail-closed: nothing to steer until the store answers.
          Effect.logWarning(`CircuitBreaker '${this.name}': ${from} -> ${to} not applied, the store is unavailable`)
      )
    }))
  }

  readonly transitionToOpenStateFor = (duration: DurationInput) =>
    Effect.suspend(() => this.transition("Open", Duration.toMillis(duration)))
  readonly transitionToOpenStateUntil = (epochMillis: number) =>
    Effect.suspend(() => this.transition("Open", Math.max(0, epochMillis - this.now())))
  get reset(): Effect.Effect<void> {
    return Effect.uninterruptible(
      this.call((store) => store.reset(this.name, this.settings), () => Effect.void, () => Effect.void)
    )
  }

  reconfigure(changes: Omit<Options<E, A>, "name">): Effect.Effect<void, InvalidConfigError> {
    return Effect.suspend(() => {
      const options = { ...this.options, ...changes, name: this.name }
      return Effect.flatMap(
        decodeOptions(OptionsSchema, "CircuitBreaker", options),
        (config) =>
          Effect.map(settingsOf(config, this.now()), (settings) => {
            this.options = options
            this.config = config
            // An explicit change for the fleet: the next operation stores these settings.
            this.settings = { ...settings, takeOver: true }
            this.predicates = predicatesOf(config)
          })
      )
    })
  }
}

/** Makes a shared breaker on `store`, started (shared state read, changes followed) in the scope. */
export const makeDistributed = <E, A>(deps: DistributedDeps): Effect.Effect<CircuitBreaker<E, A>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const breaker = new DistributedCircuitBreaker<E, A>(deps)
    yield* breaker.start()
    return breaker
  })
