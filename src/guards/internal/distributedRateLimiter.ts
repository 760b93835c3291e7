/**
 * The rate limiter made where a `Store` is provided: the same `RateLimiter` interface, with the decision
 * taken by the store (one call per acquire) and the wait served here on `Clock`. While the store fails,
 * calls follow `onStoreFailure`: decided by an in-process limiter with the same settings
 * (`local-fallback`), let through (`fail-open`) or refused with the `StoreError` as cause
 * (`fail-closed`). Permits taken in process are never reported to the store, and the store's are never
 * counted here, so nothing is counted twice; the store's state resumes as it was when it answers again.
 *
 * @internal
 */
import { decodeOptions, type DurationInput, nowMillis } from "#port"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import { learn as learnQuota, type Quota, sanitize, take as takeQuota, type Taken } from "../../core/learnedQuota.js"
import { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import { withoutStackTrace } from "../../shared/internal/errors.js"
import type { EventHub } from "../../shared/internal/eventHub.js"
import { currentSpan } from "../../shared/internal/observe.js"
import { makeMemoryRateLimiterStore } from "../../store/internal/memoryRateLimiterStore.js"
import type { Grant, LearnedQuota, RateLimiterStore, SharedLimit } from "../../store/RateLimiterStore.js"
import type { OnStoreFailure, Store, StoreError } from "../../store/Store.js"
import { Event, type Metrics, type Options, type RateLimiter, RequestNotPermittedError } from "./rateLimiterApi.js"
import { OptionsSchema } from "./rateLimiterConfig.js"
import { checkPermits } from "./rateLimiterImpl.js"

type Resolved = typeof OptionsSchema.Type

/** A store's grant, or a refusal because the store failed (`fail-closed`). */
type Decision = Grant | { readonly _tag: "StoreFailed"; readonly error: StoreError }

const sharedLimit = (config: Resolved, takeOver: boolean): SharedLimit => ({
  name: config.name,
  algorithm: config.algorithm,
  limitForPeriod: config.limitForPeriod,
  periodMillis: Duration.toMillis(config.limitRefreshPeriod as DurationInput),
  capacity: config.capacity ?? config.limitForPeriod,
  ...(takeOver ? { takeOver } : {})
})

/** The fallback's settings: the limit scaled to `fallbackLimitForPeriod` (a bucket's burst with it). */
const localShare = (config: Resolved, limit: SharedLimit): SharedLimit => {
  const share = config.fallbackLimitForPeriod
  if (share === undefined || share === limit.limitForPeriod) return limit
  return {
    ...limit,
    limitForPeriod: share,
    capacity: Math.max(1, Math.floor(limit.capacity * share / limit.limitForPeriod))
  }
}

/**
 * How long a limiter whose store failed decides without it before asking again (one probe per period,
 * by the next call): a stalled Redis would otherwise cost every call the store's timeout.
 */
export const PROBE_MILLIS = 1_000

/** A shared store counts time in its own clock, in periods: a calendar `Schedule` has no place there. */
const sharable = (config: Resolved): Effect.Effect<Resolved, InvalidConfigError> =>
  Schedule.isSchedule(config.limitRefreshPeriod)
    ? Effect.fail(
      new InvalidConfigError({
        guard: "RateLimiter",
        guardName: config.name,
        issues: [{
          field: "limitRefreshPeriod",
          value: "<schedule>",
          rule: "a Schedule is not supported by a limiter sharing a Store: use a duration"
        }]
      })
    )
    : Effect.succeed(config)

class DistributedRateLimiter implements RateLimiter {
  readonly kind = "RateLimiter" as const
  waiting = 0
  /** Cumulative counters for metrics, read on collection (never reset). */
  successfulAcquires = 0
  failedAcquires = 0
  /** Outages begun (the store stopped answering), and calls decided without the store, by mode. */
  storeOutages = 0
  storeUnavailableCalls: Record<OnStoreFailure, number> = { "local-fallback": 0, "fail-open": 0, "fail-closed": 0 }
  /** Calls the store decided under other settings than this limiter's (see `Store.RateLimiterStore`). */
  settingsMismatches = 0
  /** Times the store found this limiter's stored state unparsable and discarded it (as lost). */
  statesDiscarded = 0
  /**
   * The latest figures `metrics` read, for synchronous readers (the metrics collector): reading the store
   * takes a round trip, so such a reader starts a read and shows the previous one.
   */
  lastMetrics: Metrics | undefined
  /** Whether the store failed on the latest call (an outage is reported once, on its first failure). */
  outage = false
  /** During an outage: when (`Clock` millis) the next call asks the store again. */
  private retryAt = 0
  /** Whether the mismatch of settings has been logged (once per limiter). */
  private mismatchLogged = false
  private limit: SharedLimit
  private timeoutMillis: number
  private mode: OnStoreFailure
  private fallbackStore: RateLimiterStore | undefined

  constructor(
    private options: Options,
    public config: Resolved,
    readonly clock: Clock.Clock,
    readonly hub: EventHub<Event>,
    private readonly store: (typeof Store)["Service"]
  ) {
    this.limit = sharedLimit(config, false)
    this.localLimit = localShare(config, this.limit)
    this.timeoutMillis = Duration.toMillis(config.timeoutDuration)
    this.mode = config.onStoreFailure ?? store.onStoreFailure
  }

  get name(): string {
    return this.config.name
  }

  /** What the in-process fallback grants: this instance's share of the limit (`fallbackLimitForPeriod`). */
  private localLimit: SharedLimit

  private get fallback(): RateLimiterStore {
    return this.fallbackStore ??= makeMemoryRateLimiterStore()
  }

  private now(): number {
    return nowMillis(this.clock)
  }

  // ---- the store, and what to do without it --------------------------------------------------------

  /** `maxWaitMillis` undefined: the current timeout (read when the effect runs, as are the settings). */
  private decide(permits: number, maxWaitMillis?: number): Effect.Effect<Decision> {
    return Effect.suspend(() => this.ask(permits, maxWaitMillis ?? this.timeoutMillis))
  }

  private ask(permits: number, maxWaitMillis: number): Effect.Effect<Decision> {
    if (this.outage) {
      const now = this.now()
      if (now < this.retryAt) return this.without(this.lastError!, permits, maxWaitMillis)
      // This call probes the store; the calls arriving meanwhile keep deciding without it.
      this.retryAt = now + PROBE_MILLIS
    }
    const limit = this.limit
    return Effect.matchEffect(this.store.rateLimiter.acquire(limit, permits, maxWaitMillis), {
      onSuccess: (grant) => {
        if (limit.takeOver === true && this.limit === limit) this.limit = { ...limit, takeOver: false }
        const checked = grant.settingsDiffer === true ? this.mismatch(grant) : Effect.succeed(grant)
        const noted = grant.stateDiscarded === undefined
          ? checked
          : Effect.andThen(this.discarded(grant.stateDiscarded), checked)
        return this.outage ? Effect.andThen(this.recovered, noted) : noted
      },
      onFailure: (error) => Effect.andThen(this.unavailable(error), this.without(error, permits, maxWaitMillis))
    })
  }

  private lastError: StoreError | undefined

  /** The store decided with the settings it keeps, not this limiter's: counted, published, logged once. */
  private mismatch(grant: Grant): Effect.Effect<Grant> {
    this.settingsMismatches++
    if (this.mismatchLogged) return Effect.succeed(grant)
    this.mismatchLogged = true
    this.offer(Event.SettingsMismatch({ limiterName: this.name, at: this.now() }))
    return Effect.as(
      Effect.logWarning(
        `RateLimiter '${this.name}': the ${this.store.name} store keeps this limiter's state under other settings (another instance's, e.g. during a rolling deploy); they decide until nobody has used them for a period`
      ),
      grant
    )
  }

  /** The store found this limiter's stored state unparsable and discarded it: counted, published, logged. */
  private discarded(reason: string): Effect.Effect<void> {
    this.statesDiscarded++
    this.offer(Event.StoreStateDiscarded({ limiterName: this.name, at: this.now(), reason }))
    return Effect.logWarning(
      `RateLimiter '${this.name}': the ${this.store.name} store held state for this limiter that does not parse (${reason}); it was discarded and the limit starts afresh, as if the state had been lost`
    )
  }

  private without(error: StoreError, permits: number, maxWaitMillis: number): Effect.Effect<Decision> {
    this.storeUnavailableCalls[this.mode]++
    switch (this.mode) {
      case "fail-open":
        return Effect.succeed({ _tag: "Granted", waitMillis: 0 })
      case "fail-closed":
        return Effect.succeed({ _tag: "StoreFailed", error })
      case "local-fallback":
        // The memory store cannot fail.
        return Effect.orDie(this.fallback.acquire(this.localLimit, permits, maxWaitMillis))
    }
  }

  private unavailable(error: StoreError): Effect.Effect<void> {
    this.lastError = error
    this.retryAt = this.now() + PROBE_MILLIS
    if (this.outage) return Effect.void
    this.outage = true
    this.storeOutages++
    const mode = this.mode
    this.offer(Event.StoreUnavailable({ limiterName: this.name, at: this.now(), mode, error }))
    return Effect.logWarning(
      `RateLimiter '${this.name}': the ${this.store.name} store is unreachable, deciding ${
        mode === "local-fallback" ? "in process" : mode
      } until it answers: ${error.message}`
    )
  }

  private readonly recovered: Effect.Effect<void> = Effect.suspend(() => {
    if (!this.outage) return Effect.void
    this.outage = false
    this.offer(Event.StoreRecovered({ limiterName: this.name, at: this.now() }))
    return Effect.logInfo(`RateLimiter '${this.name}': the ${this.store.name} store answers again`)
  })

  // ---- acquiring ---------------------------------------------------------------------------------

  guard<A, E, R>(self: Effect.Effect<A, E, R>, permits: number): Effect.Effect<A, E | RequestNotPermittedError, R> {
    return Effect.andThen(this.obtain(permits), self)
  }

  // ---- a quota learned from the upstream -----------------------------------------------------------

  /** Set once this limiter learns (or its owner says it will): each call then asks the learned quota first. */
  learning = false
  /** The quota kept here when the store cannot keep one (no `takeLearned`). */
  private localQuota: Quota | undefined
  /** The latest quota seen (for snapshots): what was left, and when (Clock millis) it resets. */
  lastQuota: { readonly remaining: number; readonly resetAt: number } | undefined

  learnQuota(quota: LearnedQuota): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.learning = true
      const safe = sanitize(quota)
      if (safe === undefined) return Effect.void
      const now = this.now()
      const learn = this.store.rateLimiter.learn
      if (learn === undefined || this.outage) {
        this.localQuota = learnQuota(this.localQuota, safe, now)
        this.lastQuota = { remaining: this.localQuota.remaining, resetAt: this.localQuota.resetAt }
        return Effect.void
      }
      // A store that fails to learn costs nothing but the lesson: calls are decided as before.
      return Effect.ignore(learn(this.limit, safe))
    })
  }

  /** Permits from the learned quota: `undefined` when none is in force (or the store cannot say). */
  private takeLearned(permits: number): Effect.Effect<Taken | undefined> {
    return Effect.suspend(() => {
      const now = this.now()
      const remember = (taken: Taken | undefined) => {
        this.lastQuota = taken === undefined
          ? undefined
          : { remaining: taken.remaining, resetAt: now + taken.resetAfterMillis }
        return taken
      }
      const stored = this.store.rateLimiter.takeLearned
      if (stored === undefined || this.outage) {
        const { quota, taken } = takeQuota(this.localQuota, permits, now)
        this.localQuota = quota
        return Effect.succeed(remember(taken))
      }
      return Effect.map(Effect.orElseSucceed(stored(this.limit, permits), () => undefined), remember)
    })
  }

  private obtain(permits: number): Effect.Effect<void, RequestNotPermittedError> {
    if (!this.learning) return this.obtainConfigured(permits)
    return Effect.flatMap(this.takeLearned(permits), (taken) =>
      taken === undefined || taken.granted
        ? this.obtainConfigured(permits)
        : this.refuse(this.now(), permits, { _tag: "Refused", retryAfterMillis: taken.resetAfterMillis }))
  }

  private obtainConfigured(permits: number): Effect.Effect<void, RequestNotPermittedError> {
    return Effect.flatMap(this.decide(permits), (decision) => {
      const now = this.now()
      const span = currentSpan()
      if (span !== undefined) this.annotate(span, permits, decision)
      if (decision._tag !== "Granted") return this.refuse(now, permits, decision)
      if (decision.waitMillis <= 0) {
        this.published(now, permits)
        return Effect.void
      }
      return this.await(permits, decision.waitMillis)
    })
  }

  /** Sleeps until the reserved time. An interrupted caller's reservation stays taken in the store. */
  private await(permits: number, waitMillis: number): Effect.Effect<void> {
    this.waiting++
    return Effect.onExit(Effect.sleep(Duration.millis(waitMillis)), (exit) => {
      this.waiting--
      const now = this.now()
      if (exit._tag === "Success") this.published(now, permits)
      else {
        this.failedAcquires++
        this.offer(Event.FailedAcquire({ limiterName: this.name, at: now, permits }))
      }
      return Effect.void
    })
  }

  readonly acquire = (permits = 1): Effect.Effect<void, RequestNotPermittedError> =>
    checkPermits(permits, this.obtain(permits))

  readonly tryAcquire = (permits = 1): Effect.Effect<boolean> =>
    checkPermits(
      permits,
      Effect.map(
        Effect.flatMap(
          this.learning ? this.takeLearned(permits) : Effect.succeed(undefined),
          (taken): Effect.Effect<Decision> =>
            taken === undefined || taken.granted
              ? this.decide(permits, 0)
              : Effect.succeed({ _tag: "Refused", retryAfterMillis: taken.resetAfterMillis })
        ),
        (decision) => {
          const now = this.now()
          if (decision._tag === "Granted") {
            this.published(now, permits)
            return true
          }
          this.failedAcquires++
          if (this.hub.listening) this.offer(Event.FailedAcquire({ limiterName: this.name, at: now, permits }))
          return false
        }
      )
    )

  /** What a trace shows of this limiter on a guarded call (the in-process limiter's attributes, plus where it decided). */
  private annotate(span: Tracer.Span, permits: number, decision: Decision): void {
    span.attribute("breakwater.ratelimiter.name", this.name)
    span.attribute("breakwater.ratelimiter.permits", permits)
    span.attribute(
      "breakwater.ratelimiter.decision",
      decision._tag === "Granted" ? decision.waitMillis > 0 ? "waiting" : "permitted" : "refused"
    )
    const wait = decision._tag === "Granted"
      ? decision.waitMillis
      : decision._tag === "Refused" && Number.isFinite(decision.retryAfterMillis)
      ? decision.retryAfterMillis
      : -1
    span.attribute("breakwater.ratelimiter.wait_ms", wait)
    span.attribute("breakwater.ratelimiter.store", this.outage ? `${this.store.name} (${this.mode})` : this.store.name)
  }

  private published(now: number, permits: number): void {
    this.successfulAcquires++
    if (this.hub.subscribers > 0) this.offer(Event.SuccessfulAcquire({ limiterName: this.name, at: now, permits }))
  }

  private refuse(
    now: number,
    permits: number,
    decision: Exclude<Decision, { readonly _tag: "Granted" }>
  ): Effect.Effect<never, RequestNotPermittedError> {
    this.failedAcquires++
    if (this.hub.listening) this.offer(Event.FailedAcquire({ limiterName: this.name, at: now, permits }))
    const name = this.name
    return Effect.fail(withoutStackTrace(() =>
      decision._tag === "StoreFailed"
        ? new RequestNotPermittedError({ limiterName: name, permits, retryAfter: Option.none(), cause: decision.error })
        : new RequestNotPermittedError({
          limiterName: name,
          permits,
          retryAfter: Number.isFinite(decision.retryAfterMillis)
            ? Option.some(Duration.millis(Math.max(0, decision.retryAfterMillis)))
            : Option.none()
        })
    ))
  }

  // ---- events, reading and steering ----------------------------------------------------------------

  private offer(event: Event): void {
    this.hub.unsafeOffer(event)
  }

  get events(): Stream.Stream<Event> {
    return this.hub.stream
  }

  get subscribe(): Effect.Effect<Stream.Stream<Event>, never, Scope.Scope> {
    return this.hub.subscribed
  }

  /** A store's answer outside `acquire` also ends an outage: the next calls ask the store again at once. */
  private answered<A>(effect: Effect.Effect<A, StoreError>): Effect.Effect<A, StoreError> {
    return Effect.tap(effect, () => this.recovered)
  }

  /** The store's figure; while it fails, the in-process one (`local-fallback`) or 0. */
  private orLocal(
    stored: Effect.Effect<number, StoreError>,
    local: (fallback: RateLimiterStore) => Effect.Effect<number, StoreError>
  ): Effect.Effect<number> {
    return Effect.matchEffect(stored, {
      onSuccess: Effect.succeed,
      // The memory store cannot fail.
      onFailure: () => this.mode === "local-fallback" ? Effect.orDie(local(this.fallback)) : Effect.succeed(0)
    })
  }

  /** Reads the store (one round trip); while it fails, the in-process figure (`local-fallback`) or 0. */
  readonly metrics: Effect.Effect<Metrics> = Effect.suspend(() =>
    Effect.map(
      this.orLocal(this.answered(this.store.rateLimiter.available(this.limit)), (fallback) =>
        fallback.available(this.localLimit)),
      (availablePermissions) =>
        this.lastMetrics = {
          availablePermissions,
          numberOfWaitingFibers: this.waiting,
          storeOutages: this.storeOutages,
          storeUnavailableCalls: this.storeUnavailableCalls["local-fallback"] +
            this.storeUnavailableCalls["fail-open"] + this.storeUnavailableCalls["fail-closed"],
          settingsMismatches: this.settingsMismatches,
          storeStatesDiscarded: this.statesDiscarded
        }
    )
  )

  readonly drainPermissions: Effect.Effect<void> = Effect.suspend(() =>
    Effect.flatMap(
      this.orLocal(this.answered(this.store.rateLimiter.drain(this.limit)), (fallback) =>
        fallback.drain(this.localLimit)),
      (permits) =>
        this.hub.publish(Event.Drained({ limiterName: this.name, at: this.now(), permits }))
    )
  )

  readonly changeLimitForPeriod = (limitForPeriod: number) => this.reconfigure({ limitForPeriod })

  readonly changeTimeoutDuration = (timeoutDuration: DurationInput) => this.reconfigure({ timeoutDuration })

  /**
   * Changes this instance's settings; its next call makes them the shared state's, which the other
   * instances then follow (told by `SettingsMismatch`) until nobody has used them for a period.
   */
  readonly reconfigure = (options: Omit<Partial<Options>, "name">): Effect.Effect<void, InvalidConfigError> => {
    const merged = { ...this.options, ...options, name: this.options.name } as Options
    return Effect.map(
      Effect.flatMap(decodeOptions(OptionsSchema, "RateLimiter", merged), sharable),
      (next) => {
        this.options = merged
        this.config = next
        // An explicit change is meant for the fleet: its first call replaces the stored settings.
        this.limit = sharedLimit(next, true)
        this.localLimit = localShare(next, this.limit)
        this.timeoutMillis = Duration.toMillis(next.timeoutDuration)
        this.mode = next.onStoreFailure ?? this.store.onStoreFailure
      }
    )
  }
}

export const makeDistributed = (
  options: Options,
  config: Resolved,
  clock: Clock.Clock,
  hub: EventHub<Event>,
  store: (typeof Store)["Service"]
): Effect.Effect<RateLimiter, InvalidConfigError> =>
  Effect.map(sharable(config), (checked) => new DistributedRateLimiter(options, checked, clock, hub, store))
