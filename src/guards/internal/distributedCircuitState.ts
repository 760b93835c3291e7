/**
 * The shared circuit breaker's view of its store (see `distributedCircuitBreaker.ts`): a locally cached
 * copy of the shared state, kept fresh by the store's published changes, by the reply of every
 * operation and by timers; during an outage, the in-memory fallback or the failure mode.
 *
 * @internal
 */
import { currentRunner, interruptNow, nowMillis, type Runner, type RunningFiber, withClock } from "#port"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { EventHub } from "../../shared/internal/eventHub.js"
import { CallTimings } from "../../shared/internal/observe.js"
import type {
  CircuitBreakerStore,
  CircuitReply,
  CircuitSettings,
  CircuitSnapshot
} from "../../store/CircuitBreakerStore.js"
import { makeMemoryCircuitBreakerStore } from "../../store/internal/memoryCircuitBreakerStore.js"
import type { OnStoreFailure, StoreError } from "../../store/Store.js"
import { Event, type Options, type State } from "./circuitBreakerApi.js"
import { CircuitBreakerBase } from "./circuitBreakerBase.js"
import type { ResolvedOptions } from "./circuitBreakerConfig.js"
import { settingsOf } from "./sharedCircuitSettings.js"

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

type Source = "shared" | "fallback"

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

/**
 * The cached copy of the shared circuit, and how it is kept: read at start, re-read on a published
 * hint, by timers and after every operation's reply, switched to the failure mode during an outage.
 * `DistributedCircuitBreaker` guards calls and steers the circuit on top of it.
 */
export abstract class DistributedCircuitState<E, A> extends CircuitBreakerBase<E, A> {
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
  protected readonly clock: Clock.Clock
  private readonly scope: Scope.Scope
  protected readonly store: CircuitBreakerStore
  protected readonly storeName: string
  protected readonly mode: OnStoreFailure
  protected fallback!: CircuitBreakerStore

  // The cached state: which store it comes from, and local-clock deadlines derived from its replies.
  protected source: Source = "shared"
  protected snapshot: CircuitSnapshot = emptySnapshot
  protected openUntil = Number.NaN
  private halfOpenUntil = Number.NaN
  private lastSequence = 0
  private publishedState: State = "Closed"
  /** Refusals since the cached state last changed generation (the store counts only its own). */
  protected localNotPermitted = 0
  protected lost: { retryAt: number; error: StoreError } | undefined
  private following = false
  private followAgain = false
  private timer: RunningFiber<void> | undefined

  constructor(deps: DistributedDeps) {
    super()
    this.name = deps.config.name
    this.config = deps.config
    this.clock = deps.clock
    this.scope = deps.scope
    this.hub = deps.hub
    this.store = deps.store
    this.storeName = deps.storeName
    this.mode = deps.onStoreFailure
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

  protected now(): number {
    return nowMillis(this.clock)
  }

  /** Reads the shared state once and follows its changes for the life of the scope. */
  start(): Effect.Effect<void, never, Scope.Scope> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- `Effect.gen(this, …)` differs between Effect 3 and 4
    const breaker = this
    return Effect.gen(function*() {
      breaker.settings = yield* settingsOf(breaker.config, breaker.now())
      breaker.fallback = yield* makeMemoryCircuitBreakerStore
      // Callbacks from the store run with the services (logger, tracer) of the effect that made the breaker.
      const fork = yield* currentRunner
      yield* breaker.store.subscribe(breaker.name, () => {
        if (breaker.source === "shared" && breaker.lost === undefined) breaker.hint(fork)
      })
      yield* Effect.matchEffect(breaker.store.read(breaker.name, breaker.settings), {
        onSuccess: (snapshot) => breaker.apply({ snapshot, changes: [] }, "shared", true, true),
        onFailure: (error) => breaker.lose(error)
      })
    })
  }

  // ---- following the shared state ----------------------------------------------------------------

  /**
   * The store says the shared state may have changed (a published message, or a subscription back after
   * a gap): read it and the changes since (at most one read in flight, and one more if told again
   * meanwhile, however many messages arrive). A message is never taken as the state, nor its content as
   * changes: a forged one costs one read.
   */
  private hint(fork: Runner): void {
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
        withClock(this.store.follow(this.name, this.settings, since), this.clock),
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
      return Effect.andThen(read, Effect.suspend(() => this.followAgain ? this.follow : Effect.void))
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
      const warned = discarded === undefined ? events$ : Effect.andThen(
        Effect.logWarning(
          `CircuitBreaker '${this.name}': the ${this.storeName} store held state for this breaker that does not parse ` +
            `(${discarded}); it was discarded and the circuit starts afresh, as if the state had been lost`
        ),
        events$
      )
      const publish = conflict === undefined ? warned : Effect.andThen(
        Effect.logWarning(
          `CircuitBreaker '${this.name}': other instances share this name with different settings; ` +
            `theirs stay in force until none of them has used the shared state for 30 seconds`
        ),
        warned
      )
      // A timer that fired a little early (the store's clock is not ours) is armed again.
      return rearm || (newer && this.timer === undefined) ? Effect.andThen(publish, this.armTimer()) : publish
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
      const stop = previous === undefined ? Effect.void : Effect.sync(() => interruptNow(previous))
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
        Effect.andThen(Effect.suspend(() => {
          this.timer = undefined
          return this.refresh
        }))
      )
      return Effect.andThen(
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
  protected call<Reply extends CircuitReply, B, E2 = never, R2 = never>(
    operation: (store: CircuitBreakerStore) => Effect.Effect<Reply, StoreError>,
    onReply: (reply: Reply) => Effect.Effect<B, E2, R2>,
    onFailure: (error: StoreError) => Effect.Effect<B, E2, R2>
  ): Effect.Effect<B, E2, R2> {
    return Effect.suspend(() => {
      if (this.source === "fallback") {
        return Effect.flatMap(
          // The in-memory store's time is the Clock it runs with: the breaker's, whichever fiber asks.
          Effect.orDie(withClock(operation(this.fallback), this.clock)),
          (reply) => Effect.andThen(this.apply(reply, "fallback", false, true), onReply(reply))
        )
      }
      return Effect.matchEffect(withClock(operation(this.store), this.clock), {
        onSuccess: (reply) => Effect.andThen(this.apply(reply, "shared", false, true), onReply(reply)),
        onFailure: (error) =>
          Effect.andThen(
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
      const announce = Effect.andThen(
        Effect.logWarning(
          `CircuitBreaker '${this.name}': ${this.storeName} store unavailable, ${this.mode} until it answers again`
        ).pipe(Effect.annotateLogs({ cause: error.message })),
        this.hub.publish(Event.StoreUnavailable({ breakerName: this.name, at, mode: this.mode, error }))
      )
      if (this.mode !== "local-fallback") return announce
      // Switched at once, so that concurrent calls already go to the fallback while it is being seeded.
      const last = { snapshot: this.snapshot, openUntil: this.openUntil }
      this.source = "fallback"
      return Effect.andThen(announce, this.seedFallback(last.snapshot, last.openUntil))
    })
  }

  /** The in-memory fallback starts from the last shared state, so an open circuit stays open. */
  private seedFallback(last: CircuitSnapshot, openUntil: number): Effect.Effect<void> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- `Effect.gen(this, …)` differs between Effect 3 and 4
    const breaker = this
    return withClock(
      Effect.gen(function*() {
        const fallback = breaker.fallback
        yield* Effect.orDie(fallback.reset(breaker.name, breaker.settings))
        const remaining = Number.isFinite(openUntil) ? Math.max(0, openUntil - breaker.now()) : 0
        switch (last.state) {
          case "Open":
          case "HalfOpen":
            yield* Effect.orDie(fallback.transition(breaker.name, breaker.settings, "Open", remaining))
            break
          case "Closed":
            break
          default:
            yield* Effect.orDie(fallback.transition(breaker.name, breaker.settings, last.state))
        }
        const snapshot = yield* Effect.orDie(fallback.read(breaker.name, breaker.settings))
        yield* breaker.apply({ snapshot, changes: [] }, "fallback", true, true)
      }),
      this.clock
    )
  }

  /** During an outage, once per probe period: asks the shared store again; true when it answered. */
  protected probe(): Effect.Effect<boolean> {
    return Effect.suspend(() => {
      const outage = this.lost
      if (outage === undefined) return Effect.succeed(true)
      if (this.now() < outage.retryAt) return Effect.succeed(false)
      outage.retryAt = this.now() + PROBE_MILLIS
      return Effect.matchEffect(withClock(this.store.read(this.name, this.settings), this.clock), {
        onFailure: (error) => Effect.as(this.lose(error), false),
        onSuccess: (snapshot) =>
          Effect.suspend(() => {
            this.lost = undefined
            this.source = "shared"
            const at = this.now()
            return Effect.andThen(
              Effect.andThen(
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
}
