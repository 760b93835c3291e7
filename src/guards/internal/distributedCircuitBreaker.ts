/**
 * The circuit breaker whose state lives in a shared {@link CircuitBreakerStore} (e.g. Redis), made by
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
 * One class, as `CircuitBreakerImpl` in CircuitBreaker.ts is: the whole `CircuitBreaker` interface over a
 * store (its settings are computed in sharedCircuitSettings.ts, its state rules live in the store).
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import { Failure, type Outcome, Success } from "../../core/circuitMachine.js"
import { withoutStackTrace } from "../../shared/internal/errors.js"
import type { EventHub } from "../../shared/internal/eventHub.js"
import { CallTimings, currentSpan } from "../../shared/internal/observe.js"
import { decodeOptions } from "../../shared/internal/validation.js"
import type { InvalidConfigError } from "../../shared/InvalidConfigError.js"
import type {
  CallOutcome,
  CircuitBreakerStore,
  CircuitReply,
  CircuitSettings,
  CircuitSnapshot
} from "../../store/CircuitBreakerStore.js"
import { makeMemoryCircuitBreakerStore } from "../../store/internal/memoryCircuitBreakerStore.js"
import type { OnStoreFailure, StoreError } from "../../store/Store.js"
import {
  CallNotPermittedError,
  type CircuitBreaker,
  Event,
  IllegalStateTransitionError,
  type Metrics,
  type Options,
  type State
} from "./circuitBreakerApi.js"
import { type CallPredicates, CircuitBreakerBase, predicatesOf, retryAfterOf } from "./circuitBreakerBase.js"
import { OptionsSchema } from "./circuitBreakerConfig.js"
import { settingsOf } from "./sharedCircuitSettings.js"

type ResolvedOptions = typeof OptionsSchema.Type

/** How often a breaker whose store failed tries it again (one probe per period, by the next call). */
export const PROBE_MILLIS = 1_000
/**
 * How often a breaker in a state that sends the store nothing (Open before its trial, ForcedOpen,
 * Disabled) reads the shared state anyway: a published change it missed cannot keep it there longer.
 */
export const RESYNC_MILLIS = 5_000
const emptySnapshot: CircuitSnapshot = {
  state: "Closed",
  generation: -1,
  attempts: 0,
  openForMillis: -1,
  halfOpenForMillis: -1,
  calls: 0,
  failed: 0,
  slow: 0,
  slowFailed: 0,
  totalDurationMillis: 0,
  minimumNumberOfCalls: 0,
  leases: 0,
  notPermitted: 0,
  sequence: 0,
  incarnation: -1,
  settingsConflict: false
}

const rate = (count: number, s: CircuitSnapshot) =>
  s.calls < s.minimumNumberOfCalls || s.calls === 0 ? -1 : (count * 100) / s.calls

type Source = "shared" | "fallback"

/** The store's name for a call's outcome. */
const storeOutcome = (outcome: Outcome): CallOutcome =>
  outcome === Success ? "Success" : outcome === Failure ? "Failure" : "Ignored"

export interface DistributedDeps {
  readonly options: Options<any, any>
  readonly config: ResolvedOptions
  readonly clock: Clock.Clock
  readonly scope: Scope.Scope
  readonly hub: EventHub<Event>
  readonly store: CircuitBreakerStore
  readonly storeName: string
  readonly onStoreFailure: OnStoreFailure
}

export class DistributedCircuitBreaker<E, A> extends CircuitBreakerBase<E, A> {
  readonly name: string
  readonly hub: EventHub<Event>
  /** Cumulative counters for metrics (this instance's calls). */
  readonly calls = new CallTimings()
  /** Times this breaker lost its store (each outage counts once). */
  storeOutages = 0
  /** Calls decided without the store, by failure mode. */
  readonly storeUnavailableCalls: Record<OnStoreFailure, number> = {
    "local-fallback": 0,
    "fail-open": 0,
    "fail-closed": 0
  }
  /** Operations the store evaluated under another instance's settings (this one's differ). */
  settingsMismatches = 0
  /** Times the store found this breaker's stored state unparsable and discarded it (as lost state). */
  statesDiscarded = 0
  private conflictReported = false
  config: ResolvedOptions
  settings!: CircuitSettings
  private options: Options<E, A>
  private readonly clock: Clock.Clock
  private readonly scope: Scope.Scope
  private readonly store: CircuitBreakerStore
  private readonly storeName: string
  private readonly mode: OnStoreFailure
  private fallback!: CircuitBreakerStore
  private predicates: CallPredicates

  // The cached state: which store it comes from, and local-clock deadlines derived from its replies.
  private source: Source = "shared"
  private snapshot: CircuitSnapshot = emptySnapshot
  private openUntil = Number.NaN
  private halfOpenUntil = Number.NaN
  private lastSequence = 0
  private publishedState: State = "Closed"
  /** Refusals since the cached state last changed generation (the store counts only its own). */
  private localNotPermitted = 0
  private lost: { retryAt: number; error: StoreError } | undefined
  private following = false
  private followAgain = false
  private timer: Fiber.RuntimeFiber<void> | undefined
  private leaseCounter = 0
  private readonly instanceId = Math.random().toString(36).slice(2, 10)

  constructor(deps: DistributedDeps) {
    super()
    this.name = deps.config.name
    this.options = deps.options as Options<E, A>
    this.config = deps.config
    this.clock = deps.clock
    this.scope = deps.scope
    this.hub = deps.hub
    this.store = deps.store
    this.storeName = deps.storeName
    this.mode = deps.onStoreFailure
    this.predicates = predicatesOf(deps.config)
  }

  protected get madeHub(): EventHub<Event> {
    return this.hub
  }

  protected get currentState(): State {
    return this.snapshot.state
  }

  /** True while the store does not answer. */
  get outage(): boolean {
    return this.lost !== undefined
  }

  private now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }

  /** Reads the shared state once and follows its changes for the life of the scope. */
  start(): Effect.Effect<void, never, Scope.Scope> {
    return Effect.gen(this, function*() {
      this.settings = yield* settingsOf(this.config, this.now())
      this.fallback = yield* makeMemoryCircuitBreakerStore
      // Callbacks from the store run with the services (logger, tracer) of the effect that made the breaker.
      const fork = Runtime.runFork(yield* Effect.runtime<never>())
      yield* this.store.subscribe(this.name, () => {
        if (this.source === "shared" && this.lost === undefined) this.hint(fork)
      })
      const first = yield* Effect.either(this.store.read(this.name, this.settings))
      if (first._tag === "Right") yield* this.apply({ snapshot: first.right, changes: [] }, "shared", true, true)
      else yield* this.lose(first.left)
    })
  }

  // ---- following the shared state ----------------------------------------------------------------

  /**
   * The store says the shared state may have changed (a published message, or a subscription back after
   * a gap): read it and the changes since (at most one read in flight, and one more if told again
   * meanwhile, however many messages arrive). A message is never taken as the state, nor its content as
   * changes: a forged one costs one read.
   */
  private hint(fork: (effect: Effect.Effect<void>) => unknown): void {
    if (this.following) {
      this.followAgain = true
      return
    }
    this.following = true
    fork(Effect.ensuring(this.follow, Effect.sync(() => (this.following = false))))
  }

  private get follow(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.followAgain = false
      const since = { incarnation: this.snapshot.incarnation, sequence: this.lastSequence }
      // A read that fails here is not an outage (the next operation finds out): a burst of calls queued
      // ahead of it on the connection must not switch the breaker to its failure mode.
      const read = this.source !== "shared" || this.lost !== undefined ? Effect.void : Effect.matchEffect(
        Effect.withClock(this.store.follow(this.name, this.settings, since), this.clock),
        {
          onFailure: () => Effect.void,
          // The shared state can only go back (same incarnation, an earlier sequence) when Redis lost
          // writes: a failover promoting a replica that had not received them, or a restore. What the
          // store holds now is the state: take it, or this instance would wait for a sequence that
          // never comes.
          onSuccess: (reply) =>
            this.apply(
              reply,
              "shared",
              reply.snapshot.incarnation === this.snapshot.incarnation && reply.snapshot.sequence < since.sequence,
              true
            )
        }
      )
      return Effect.zipRight(read, Effect.suspend(() => this.followAgain ? this.follow : Effect.void))
    })
  }

  /**
   * Takes a reply (`own`: to this instance's operation, else published) into the cache and publishes
   * the changes not seen yet. A state of another incarnation (the shared state was lost and created
   * again: generations start over) replaces the cache when it is the reply to our own operation or
   * newer than ours.
   */
  private apply(reply: CircuitReply, from: Source, forced: boolean, own = false): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (from !== this.source) return Effect.void
      const at = this.now()
      const breakerName = this.name
      const events: Array<Event> = []
      const snapshot = reply.snapshot
      const current = this.snapshot
      if (snapshot.incarnation !== current.incarnation && !forced) {
        if (!own && snapshot.incarnation < current.incarnation) return Effect.void
      }
      const force = forced || snapshot.incarnation !== current.incarnation
      if (own && from === "shared" && this.settings.takeOver === true && !snapshot.settingsConflict) {
        const { takeOver: _, ...settings } = this.settings
        this.settings = settings
      }
      const conflict = own ? this.noticeConflict(snapshot.settingsConflict, at) : undefined
      if (conflict !== undefined) events.push(conflict)
      const discarded = snapshot.stateDiscarded
      if (discarded !== undefined) {
        this.statesDiscarded++
        events.push(Event.StoreStateDiscarded({ breakerName, at, reason: discarded }))
      }
      for (const change of reply.changes) {
        if (change.sequence <= this.lastSequence && !force) continue
        switch (change._tag) {
          case "Transition":
            events.push(Event.StateTransition({ breakerName, at, from: change.from, to: change.to }))
            this.publishedState = change.to
            break
          case "FailureRateExceeded":
            events.push(Event.FailureRateExceeded({ breakerName, at, failureRate: change.rate }))
            break
          case "SlowCallRateExceeded":
            events.push(Event.SlowCallRateExceeded({ breakerName, at, slowCallRate: change.rate }))
            break
          case "Reset":
            events.push(Event.Reset({ breakerName, at }))
        }
      }
      this.lastSequence = force ? snapshot.sequence : Math.max(this.lastSequence, snapshot.sequence)
      const newer = force || snapshot.generation > current.generation ||
        (snapshot.generation === current.generation && snapshot.sequence >= current.sequence)
      let rearm = false
      if (newer) {
        if (snapshot.generation !== current.generation || force) {
          this.localNotPermitted = 0
          rearm = true
        }
        this.snapshot = snapshot
        this.openUntil = snapshot.openForMillis >= 0 ? at + snapshot.openForMillis : Number.NaN
        this.halfOpenUntil = snapshot.halfOpenForMillis >= 0 ? at + snapshot.halfOpenForMillis : Number.NaN
        if (snapshot.state !== this.publishedState) {
          // Changes missed (an outage, a lost message, a switch of source): report where we are now.
          events.push(Event.StateTransition({ breakerName, at, from: this.publishedState, to: snapshot.state }))
          this.publishedState = snapshot.state
        }
      }
      const events$ = events.length === 0
        ? Effect.void
        : Effect.forEach(events, (event) => this.hub.publish(event), { discard: true })
      const warned = discarded === undefined ? events$ : Effect.zipRight(
        Effect.logWarning(
          `CircuitBreaker '${this.name}': the ${this.storeName} store held state for this breaker that does not parse ` +
            `(${discarded}); it was discarded and the circuit starts afresh, as if the state had been lost`
        ),
        events$
      )
      const publish = conflict === undefined ? warned : Effect.zipRight(
        Effect.logWarning(
          `CircuitBreaker '${this.name}': other instances share this name with different settings; ` +
            `theirs stay in force until none of them has used the shared state for 30 seconds`
        ),
        warned
      )
      // A timer that fired a little early (the store's clock is not ours) is armed again.
      return rearm || (newer && this.timer === undefined) ? Effect.zipRight(publish, this.armTimer()) : publish
    })
  }

  /** The first reply of a conflict is reported (a warning and an event), again after it ended. */
  private noticeConflict(conflict: boolean, at: number): Event | undefined {
    if (!conflict) {
      this.conflictReported = false
      return undefined
    }
    this.settingsMismatches++
    if (this.conflictReported) return undefined
    this.conflictReported = true
    return Event.StoreSettingsConflict({ breakerName: this.name, at })
  }

  /**
   * Time-based transitions happen in the store on its next operation; with nobody calling, a timer reads
   * the store when one is due so this instance (and, through its publication, every other) moves on.
   */
  private armTimer(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const previous = this.timer
      this.timer = undefined
      const stop = previous === undefined ? Effect.void : Fiber.interruptFork(previous)
      const s = this.snapshot
      const now = this.now()
      const due = s.state === "Open"
        ? Math.min(
          this.config.automaticTransitionFromOpenToHalfOpenEnabled ? this.openUntil : Infinity,
          now + RESYNC_MILLIS
        )
        : s.state === "HalfOpen"
        ? this.halfOpenUntil
        : s.state === "ForcedOpen" || s.state === "Disabled"
        ? now + RESYNC_MILLIS
        : Number.NaN
      if (!Number.isFinite(due)) return Effect.asVoid(stop)
      const tick = this.clock.sleep(Duration.millis(Math.max(1, due - now))).pipe(
        Effect.zipRight(Effect.suspend(() => {
          this.timer = undefined
          return this.refresh
        }))
      )
      return Effect.zipRight(
        stop,
        Effect.map(Effect.forkIn(Effect.interruptible(tick), this.scope), (fiber) => {
          this.timer = fiber
        })
      )
    })
  }

  /** Reads the active store into the cache. */
  private get refresh(): Effect.Effect<void> {
    return this.call(
      (store) => Effect.map(store.read(this.name, this.settings), (snapshot) => ({ snapshot, changes: [] })),
      () => Effect.void,
      () => Effect.void
    )
  }

  /**
   * Runs an operation on the active store and takes its reply into the cache. A failure of the shared
   * store starts (or extends) an outage and runs `onFailure`; during an outage, `local-fallback` runs
   * the operation on the in-memory store instead.
   */
  private call<Reply extends CircuitReply, B, E2 = never, R2 = never>(
    operation: (store: CircuitBreakerStore) => Effect.Effect<Reply, StoreError>,
    onReply: (reply: Reply) => Effect.Effect<B, E2, R2>,
    onFailure: (error: StoreError) => Effect.Effect<B, E2, R2>
  ): Effect.Effect<B, E2, R2> {
    return Effect.suspend(() => {
      if (this.source === "fallback") {
        return Effect.flatMap(
          // The in-memory store's time is the Clock it runs with: the breaker's, whichever fiber asks.
          Effect.orDie(Effect.withClock(operation(this.fallback), this.clock)),
          (reply) => Effect.zipRight(this.apply(reply, "fallback", false, true), onReply(reply))
        )
      }
      return Effect.matchEffect(Effect.withClock(operation(this.store), this.clock), {
        onSuccess: (reply) => Effect.zipRight(this.apply(reply, "shared", false, true), onReply(reply)),
        onFailure: (error) =>
          Effect.zipRight(
            this.lose(error),
            Effect.suspend(() =>
              this.source === "fallback" ? this.call(operation, onReply, onFailure) : onFailure(error)
            )
          )
      })
    })
  }

  /** The store failed: starts an outage (logged and published once) or pushes the next probe back. */
  private lose(error: StoreError): Effect.Effect<void> {
    return Effect.suspend(() => {
      const retryAt = this.now() + PROBE_MILLIS
      if (this.lost !== undefined) {
        this.lost = { retryAt, error }
        return Effect.void
      }
      this.lost = { retryAt, error }
      this.storeOutages++
      const at = this.now()
      const announce = Effect.zipRight(
        Effect.logWarning(
          `CircuitBreaker '${this.name}': ${this.storeName} store unavailable, ${this.mode} until it answers again`
        ).pipe(Effect.annotateLogs({ cause: error.message })),
        this.hub.publish(Event.StoreUnavailable({ breakerName: this.name, at, mode: this.mode, error }))
      )
      if (this.mode !== "local-fallback") return announce
      // Switched at once, so that concurrent calls already go to the fallback while it is being seeded.
      const last = { snapshot: this.snapshot, openUntil: this.openUntil }
      this.source = "fallback"
      return Effect.zipRight(announce, this.seedFallback(last.snapshot, last.openUntil))
    })
  }

  /** The in-memory fallback starts from the last shared state, so an open circuit stays open. */
  private seedFallback(last: CircuitSnapshot, openUntil: number): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      const fallback = this.fallback
      yield* Effect.orDie(fallback.reset(this.name, this.settings))
      const remaining = Number.isFinite(openUntil) ? Math.max(0, openUntil - this.now()) : 0
      switch (last.state) {
        case "Open":
        case "HalfOpen":
          yield* Effect.orDie(fallback.transition(this.name, this.settings, "Open", remaining))
          break
        case "Closed":
          break
        default:
          yield* Effect.orDie(fallback.transition(this.name, this.settings, last.state))
      }
      const snapshot = yield* Effect.orDie(fallback.read(this.name, this.settings))
      yield* this.apply({ snapshot, changes: [] }, "fallback", true, true)
    }).pipe(Effect.withClock(this.clock))
  }

  /** During an outage, once per probe period: asks the shared store again; true when it answered. */
  private probe(): Effect.Effect<boolean> {
    return Effect.suspend(() => {
      const outage = this.lost
      if (outage === undefined) return Effect.succeed(true)
      if (this.now() < outage.retryAt) return Effect.succeed(false)
      outage.retryAt = this.now() + PROBE_MILLIS
      return Effect.matchEffect(Effect.withClock(this.store.read(this.name, this.settings), this.clock), {
        onFailure: (error) => Effect.as(this.lose(error), false),
        onSuccess: (snapshot) =>
          Effect.suspend(() => {
            this.lost = undefined
            this.source = "shared"
            const at = this.now()
            return Effect.zipRight(
              Effect.zipRight(
                Effect.logInfo(
                  `CircuitBreaker '${this.name}': ${this.storeName} store answers again, shared state resumed`
                ),
                this.hub.publish(Event.StoreRecovered({ breakerName: this.name, at }))
              ),
              Effect.as(this.apply({ snapshot, changes: [] }, "shared", true, true), true)
            )
          })
      })
    })
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
    const renew = Effect.ignore(Effect.withClock(store.renew(this.name, settings, leaseId), this.clock))
    const loop = Effect.interruptible(Effect.forever(Effect.zipRight(this.clock.sleep(every), renew)))
    return Effect.flatMap(
      Effect.forkDaemon(loop),
      (renewer) => Effect.ensuring(self, Fiber.interruptFork(renewer))
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

  readonly transitionToOpenStateFor = (duration: Duration.DurationInput) =>
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
