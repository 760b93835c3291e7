/**
 * A rate limiter with Resilience4j's options, defaults and reservation arithmetic, as an Effect value:
 * at most `limitForPeriod` permits per `limitRefreshPeriod`, callers waiting up to `timeoutDuration`
 * for one. Also: token-bucket and sliding-window algorithms, calendar-aligned periods from a
 * `Schedule`, weighted calls, one limiter per key, and all-or-nothing acquisition from several
 * limiters.
 *
 * ## When to use
 * To keep the calls to a dependency (or the calls a tenant may make to us) under a rate: an API quota
 * ("10,000 calls per day, reset at midnight UTC"), a downstream service's capacity, fairness between
 * tenants with {@link keyed}, or a per-tenant and a global budget together with {@link acquireAll}.
 *
 * ## Gotchas
 * - Only the start of a call is limited, not how many run at once (that is a bulkhead's job).
 * - A caller that cannot have its permits within `timeoutDuration` is refused at once with
 *   `RequestNotPermittedError`, whose `retryAfter` says how long it would have had to wait.
 *   Resilience4j parks such a caller for its whole timeout before failing; breakwater does not.
 * - A caller that can have them reserves them and sleeps (on `Clock`, so `TestClock` drives it) until
 *   their cycle begins. If it is interrupted while waiting, its reservation is given back (Resilience4j
 *   keeps it, so an interrupted thread's permits are lost).
 * - Requests are served in order of arrival: a small request never overtakes a waiting one. The one
 *   exception: permits given back by an interrupted waiter (fixed window) may be taken by a newcomer
 *   for their cycle, which delays nobody.
 * - A weighted request takes all its permits from the cycle in which it runs, so no cycle ever sees
 *   more than `limitForPeriod` permits (Resilience4j's single counter can let a weighted request run
 *   with permits borrowed from the previous cycle). Requests for more permits than one period (or a
 *   token bucket's capacity) can ever grant are refused with no `retryAfter`.
 * - Time is read from `Clock` in milliseconds (fractions allowed, so the 500 ns default period is
 *   honoured arithmetically; a real clock advances in whole milliseconds).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * const callPartner = (id: number) => Effect.succeed({ id })
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const limiter = yield* RateLimiter.make({ name: "partner", limitForPeriod: 100, limitRefreshPeriod: "1 second" })
 *     return yield* callPartner(1).pipe(RateLimiter.withRateLimiter(limiter))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import { KeyTable, type Slot } from "../core/keyTable.js"
import { learn as learnQuota, type Quota, sanitize as sanitizeQuota, take as takeQuota } from "../core/learnedQuota.js"
import { FixedWindow, type LimiterCore, periodicCore, SlidingWindow, TokenBucket } from "../core/rateLimiterCore.js"
import {
  ChainedCycles,
  type Cycles,
  newest,
  PeriodicCycles,
  ScheduledCycles,
  settle
} from "../core/rateLimiterCycles.js"
import { withoutStackTrace } from "../shared/internal/errors.js"
import { type EventHub, makeEventHub } from "../shared/internal/eventHub.js"
import { currentSpan, spanEvent } from "../shared/internal/observe.js"
import { decodeOptions, readFields } from "../shared/internal/validation.js"
import type { InvalidConfigError } from "../shared/InvalidConfigError.js"
import type { Policy } from "../shared/Policy.js"
import type { LearnedQuota } from "../store/RateLimiterStore.js"
import { type OnStoreFailure, Store, type StoreError } from "../store/Store.js"
import { makeDistributed } from "./internal/distributedRateLimiter.js"
import { configFields, KeyedOptionsSchema, OptionsSchema } from "./internal/rateLimiterConfig.js"

/**
 * The limiter's options. Names and defaults follow Resilience4j's `RateLimiterConfig`; durations
 * accept any `Duration.DurationInput`.
 *
 * @example
 * ```ts
 * import { Schedule } from "effect"
 * import type { RateLimiter } from "breakwater"
 *
 * // "10,000 calls per day, reset at midnight UTC"
 * const daily: RateLimiter.Options = {
 *   name: "geocoding-quota",
 *   limitForPeriod: 10_000,
 *   limitRefreshPeriod: Schedule.cron("0 0 * * *"),
 *   timeoutDuration: 0
 * }
 * const bursty: RateLimiter.Options = { name: "search", algorithm: "token-bucket", limitForPeriod: 10, capacity: 50 }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  readonly name: string
  /** Permits per period (fixed-window), per window (sliding-window), or refilled per period. Default 50. */
  readonly limitForPeriod?: number
  /**
   * The period (default 500 ns, as in Resilience4j; at least 1 ns). With the fixed-window algorithm,
   * also a `Schedule` whose recurrences are the cycle boundaries (its input is the cycle's number); an
   * exhausted schedule leaves the last cycle open forever.
   */
  readonly limitRefreshPeriod?: Duration.DurationInput | Schedule.Schedule<unknown, number>
  /** How long a caller may wait for its permits; 0 = refuse at once. Default 5 seconds. */
  readonly timeoutDuration?: Duration.DurationInput
  /**
   * `"fixed-window"` (default): Resilience4j's cycles. `"token-bucket"`: `capacity` tokens refilled
   * at `limitForPeriod` per `limitRefreshPeriod`, so idle time buys a burst. `"sliding-window"`: no
   * more than `limitForPeriod` in any `limitRefreshPeriod`, exactly (no double burst at an edge).
   */
  readonly algorithm?: "fixed-window" | "token-bucket" | "sliding-window"
  /** Token bucket only: the largest burst. Default `limitForPeriod`. */
  readonly capacity?: number
  /**
   * Only for a limiter made where a shared `Store` is provided: what to do while the store is
   * unreachable (see `Store.OnStoreFailure`). Default: the store's.
   */
  readonly onStoreFailure?: OnStoreFailure
  /**
   * Only for a limiter sharing a `Store`, under `local-fallback`: the permits per period this instance
   * grants on its own while the store is unreachable (its share of the fleet's limit, e.g. the limit
   * divided by the number of instances; a token bucket's capacity shrinks in proportion). Default
   * `limitForPeriod`: each instance alone grants the whole limit, so the fleet may admit instances × N.
   */
  readonly fallbackLimitForPeriod?: number
}

/**
 * The options of a {@link keyed} limiter: those of each key's limiter, plus the bounds on keys.
 *
 * @example
 * ```ts
 * import type { RateLimiter } from "breakwater"
 *
 * const perTenant: RateLimiter.KeyedOptions = { name: "tenant", limitForPeriod: 20, limitRefreshPeriod: "1 second", maxKeys: 10_000 }
 * ```
 *
 * @since 0.1.0
 */
export interface KeyedOptions extends Options {
  /** Most keys with a live limiter; requests for a new key beyond it are refused. Default 100,000. */
  readonly maxKeys?: number
  /**
   * How long an unused key's limiter is kept. Default: the time a limiter takes to forget its past (the
   * period, window or full refill), at least 1 minute; 24 hours with a `Schedule` period. A shorter
   * time than that forgetting time is refused (an idle key would come back with a fresh quota); with a
   * `Schedule`, keep it at least as long as the longest cycle.
   */
  readonly idleTimeToLive?: Duration.DurationInput
}

/**
 * A snapshot of the limiter, with Resilience4j's names.
 *
 * @example
 * ```ts
 * import type { RateLimiter } from "breakwater"
 *
 * const describe = (m: RateLimiter.Metrics) => `${m.availablePermissions} free, ${m.numberOfWaitingFibers} waiting`
 * ```
 *
 * @since 0.1.0
 */
export interface Metrics {
  /** Permits available now; negative while reservations wait for later permits. */
  readonly availablePermissions: number
  readonly numberOfWaitingFibers: number
  /** Limiters sharing a `Store` only: outages begun (times the store stopped answering). */
  readonly storeOutages?: number
  /**
   * Limiters sharing a `Store` only: calls decided without the store because it was unreachable
   * (in process under `local-fallback`, let through under `fail-open`, refused under `fail-closed`).
   */
  readonly storeUnavailableCalls?: number
  /** Limiters sharing a `Store` only: calls the store decided under another instance's settings. */
  readonly settingsMismatches?: number
  /** Limiters sharing a `Store` only: times stored state that does not parse was discarded (as lost). */
  readonly storeStatesDiscarded?: number
}

/**
 * A call was refused without being run: its permits could not be had within the timeout.
 * `retryAfter` is the wait that would have been needed (none when the request can never be granted).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * declare const limiter: RateLimiter.RateLimiter
 * const guarded = Effect.succeed("ok").pipe(
 *   RateLimiter.withRateLimiter(limiter),
 *   Effect.catchTag("RequestNotPermittedError", (e) => Effect.succeed(`busy: ${e.limiterName}, ${e.retryAfter}`))
 * )
 * ```
 *
 * @since 0.1.0
 */
export class RequestNotPermittedError extends Data.TaggedError("RequestNotPermittedError")<{
  readonly limiterName: string
  readonly permits: number
  readonly retryAfter: Option.Option<Duration.Duration>
  /** Set when a limiter sharing a `Store` refused because the store failed (`onStoreFailure: "fail-closed"`). */
  readonly cause?: StoreError
}> {
  override get message(): string {
    if (this.cause !== undefined) return `RateLimiter '${this.limiterName}' refused: ${this.cause.message}`
    const wait = Option.match(this.retryAfter, {
      onNone: () => "",
      onSome: (d) => ` (permits available in ${Duration.format(d)})`
    })
    return `RateLimiter '${this.limiterName}' does not permit further calls${wait}`
  }
}

/**
 * What a limiter reports, each with the limiter's name, the `Clock` time in epoch millis and the
 * number of permits. `SuccessfulAcquire` is published when a caller proceeds (after any wait),
 * `FailedAcquire` when one is refused or interrupted while waiting, `Drained` by `drainPermissions`.
 * A limiter sharing a `Store` also reports `StoreUnavailable` once when the store stops answering (with
 * the failure mode it follows meanwhile) and `StoreRecovered` when it answers again, and
 * `SettingsMismatch` once when the store keeps its state under another instance's settings.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * const logRefusals = (limiter: RateLimiter.RateLimiter) =>
 *   limiter.events.pipe(
 *     Stream.filter(RateLimiter.Event.$is("FailedAcquire")),
 *     Stream.runForEach((e) => Effect.log(`${e.limiterName} refused ${e.permits}`))
 *   )
 * ```
 *
 * @since 0.1.0
 */
export type Event = Data.TaggedEnum<{
  SuccessfulAcquire: { readonly limiterName: string; readonly at: number; readonly permits: number }
  FailedAcquire: { readonly limiterName: string; readonly at: number; readonly permits: number }
  Drained: { readonly limiterName: string; readonly at: number; readonly permits: number }
  StoreUnavailable: {
    readonly limiterName: string
    readonly at: number
    readonly mode: OnStoreFailure
    readonly error: StoreError
  }
  StoreRecovered: { readonly limiterName: string; readonly at: number }
  SettingsMismatch: { readonly limiterName: string; readonly at: number }
  /**
   * The store held state for this limiter that does not parse (written by something else than
   * breakwater): it was discarded and the limit started afresh, as if the state had been lost.
   */
  StoreStateDiscarded: { readonly limiterName: string; readonly at: number; readonly reason: string }
}>

/**
 * Constructors and guards for {@link Event}.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "breakwater"
 *
 * const isRefusal = RateLimiter.Event.$is("FailedAcquire")
 * ```
 *
 * @since 0.1.0
 */
export const Event = Data.taggedEnum<Event>()

/**
 * A running rate limiter. Obtain one with {@link make} or {@link layer}; guard calls with
 * {@link withRateLimiter} or {@link policy}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * const slowDown = (limiter: RateLimiter.RateLimiter) =>
 *   Effect.gen(function*() {
 *     yield* limiter.changeLimitForPeriod(10) // from the next cycle
 *     const { availablePermissions } = yield* limiter.metrics
 *     yield* Effect.log(`${limiter.name}: ${availablePermissions} permits left`)
 *   })
 * ```
 *
 * @since 0.1.0
 */
export interface RateLimiter {
  readonly kind: "RateLimiter"
  readonly name: string
  readonly metrics: Effect.Effect<Metrics>
  /** Events from the moment of subscription; a subscriber that falls far behind loses the oldest. */
  readonly events: Stream.Stream<Event>
  /**
   * Subscribes now, in the caller's `Scope`, and returns the events from that moment. Use it where
   * the first event matters: `events` subscribes only when the stream starts running, so a fiber
   * forked to read it may attach after the event (`Effect.yieldNow()` does not guarantee otherwise);
   * after `const events = yield* guard.subscribe`, nothing is missed.
   */
  readonly subscribe: Effect.Effect<Stream.Stream<Event>, never, Scope.Scope>
  /** Takes `permits` (default 1), waiting for them up to the timeout; refused otherwise. */
  readonly acquire: (permits?: number) => Effect.Effect<void, RequestNotPermittedError>
  /** Takes `permits` (default 1) if they are available now; never waits. */
  readonly tryAcquire: (permits?: number) => Effect.Effect<boolean>
  /** Takes every permit left in the current cycle/window (for a dependency that told us to stop). */
  readonly drainPermissions: Effect.Effect<void>
  /**
   * Permits per period from the next cycle on (token bucket: refill rate from now; sliding window:
   * from now). Reservations already made stay valid, even beyond a lowered limit: they were granted
   * under the old one. Later requests queue after them and get at most the new limit per cycle.
   */
  readonly changeLimitForPeriod: (limitForPeriod: number) => Effect.Effect<void, InvalidConfigError>
  /** The wait allowed to callers arriving from now on. */
  readonly changeTimeoutDuration: (timeout: Duration.DurationInput) => Effect.Effect<void, InvalidConfigError>
  /**
   * Changes any options but the name in place, checked like {@link make}'s. The limiter keeps its
   * state: a new limit or period applies from the next cycle, a token bucket keeps its tokens, a
   * sliding window its grants. Reservations already made stand, even where they exceed a lowered limit
   * (they were granted under the old one); later requests queue after them, within the new limit per
   * cycle. Only a change of `algorithm` starts afresh.
   */
  readonly reconfigure: (options: Omit<Partial<Options>, "name">) => Effect.Effect<void, InvalidConfigError>
}

const nowMillis = (clock: Clock.Clock) => clock.unsafeCurrentTimeMillis()

type Resolved = typeof OptionsSchema.Type

/** A reservation held by a waiting caller, given back if it is interrupted. */
interface Hold {
  readonly limiter: RateLimiterImpl
  readonly core: LimiterCore
  readonly ticket: number
}

const samePeriod = (a: Resolved["limitRefreshPeriod"], b: Resolved["limitRefreshPeriod"]): boolean =>
  Schedule.isSchedule(a) || Schedule.isSchedule(b)
    ? a === b
    : Duration.equals(Duration.decode(a as Duration.DurationInput), Duration.decode(b as Duration.DurationInput))

const periodMillis = (config: Resolved): number =>
  Duration.toMillis(config.limitRefreshPeriod as Duration.DurationInput)

class RateLimiterImpl implements RateLimiter {
  readonly kind = "RateLimiter" as const
  core: LimiterCore
  waiting = 0
  /** Cumulative counters for metrics, read on collection (never reset). */
  successfulAcquires = 0
  failedAcquires = 0
  timeoutMillis: number
  /** The schedule whose recurrences are pushed into `scheduled`, the newest scheduled cycles. */
  private schedule: Schedule.Schedule<unknown, number> | undefined
  private scheduleState: unknown
  private scheduled: ScheduledCycles | undefined

  constructor(
    private options: Options,
    private config: Resolved,
    readonly clock: Clock.Clock,
    private readonly hub: EventHub<Event>,
    core?: LimiterCore
  ) {
    this.timeoutMillis = Duration.toMillis(config.timeoutDuration)
    this.core = core ?? this.build(config, nowMillis(clock))
  }

  get name(): string {
    return this.config.name
  }

  private build(config: Resolved, now: number): LimiterCore {
    this.schedule = undefined
    this.scheduled = undefined
    switch (config.algorithm) {
      case "fixed-window":
        return new FixedWindow(this.cyclesFrom(config, now, 0), config.limitForPeriod, now)
      case "token-bucket": {
        const capacity = config.capacity ?? config.limitForPeriod
        return new TokenBucket(config.limitForPeriod / periodMillis(config), capacity, now)
      }
      case "sliding-window":
        return new SlidingWindow(periodMillis(config), config.limitForPeriod)
    }
  }

  private cyclesFrom(config: Resolved, origin: number, firstIndex: number): Cycles {
    const period = config.limitRefreshPeriod
    if (!Schedule.isSchedule(period)) return new PeriodicCycles(origin, periodMillis(config), firstIndex)
    this.schedule = period as Schedule.Schedule<unknown, number>
    this.scheduleState = this.schedule.initial
    this.scheduled = new ScheduledCycles(origin, firstIndex)
    return this.scheduled
  }

  // ---- boundaries from a schedule ----------------------------------------------------------------

  /**
   * Pushes the schedule's next recurrence. If that is already past (the limiter sat idle across
   * boundaries), the cycle it starts runs until the first recurrence after now: the cycles missed in
   * between held no reservations, so they need not be told apart.
   */
  readonly extend: Effect.Effect<void> = Effect.suspend(() => {
    const cycles = this.scheduled
    const schedule = this.schedule
    if (cycles === undefined || schedule === undefined) return Effect.void
    const horizon = cycles.horizon
    const after = (from: number, tries = 0): Effect.Effect<number> =>
      Effect.flatMap(schedule.step(from, cycles.lastIndex, this.scheduleState), ([state, _out, decision]) => {
        this.scheduleState = state
        const next = decision._tag === "Continue" ? ScheduleIntervals.start(decision.intervals) : Infinity
        // Schedule.fixed answers `from` itself once when it is running behind; ask again.
        return next > from ? Effect.succeed(next) : tries < 8 ? after(from, tries + 1) : Effect.succeed(Infinity)
      })
    return Effect.flatMap(after(horizon), (next) => {
      if (this.scheduled !== cycles || cycles.horizon !== horizon) return Effect.void // someone else did it
      cycles.push(next)
      const now = nowMillis(this.clock)
      if (next > now) return Effect.void
      return Effect.map(after(now), (later) => {
        if (this.scheduled === cycles && cycles.horizon === next) cycles.push(later)
      })
    })
  })

  /**
   * Runs a synchronous decision; when it needs cycle boundaries not known yet (it returns
   * `undefined`), steps the schedule and decides again.
   */
  decide<A, E>(f: (now: number) => Effect.Effect<A, E> | undefined): Effect.Effect<A, E> {
    const loop: Effect.Effect<A, E> = Effect.suspend(() =>
      f(nowMillis(this.clock)) ?? Effect.zipRight(this.extend, loop)
    )
    return loop
  }

  // ---- acquiring ---------------------------------------------------------------------------------

  // ---- a quota learned from the upstream -----------------------------------------------------------

  learning = false
  quota: Quota | undefined
  lastQuota: { readonly remaining: number; readonly resetAt: number } | undefined

  learnQuota(quota: LearnedQuota): Effect.Effect<void> {
    return Effect.sync(() => {
      this.learning = true
      const safe = sanitizeQuota(quota)
      if (safe === undefined) return
      this.quota = learnQuota(this.quota, safe, nowMillis(this.clock))
      this.lastQuota = { remaining: this.quota.remaining, resetAt: this.quota.resetAt }
    })
  }

  /** Takes from the learned quota; the wait until its reset when it refuses, else undefined. */
  private quotaRefusal(permits: number, now: number): number | undefined {
    if (this.quota === undefined) return undefined
    const { quota, taken } = takeQuota(this.quota, permits, now)
    this.quota = quota
    this.lastQuota = taken === undefined
      ? undefined
      : { remaining: taken.remaining, resetAt: now + taken.resetAfterMillis }
    return taken === undefined || taken.granted ? undefined : taken.resetAfterMillis
  }

  guard<A, E, R>(self: Effect.Effect<A, E, R>, permits: number): Effect.Effect<A, E | RequestNotPermittedError, R> {
    return Effect.suspend(() => {
      const now = nowMillis(this.clock)
      const core = this.core
      const span = currentSpan()
      const learned = this.quotaRefusal(permits, now)
      if (learned !== undefined) return this.refuse(now, permits, learned)
      if (core.tryTake(permits, now)) {
        this.successfulAcquires++
        if (this.hub.subscribers > 0) this.offer(Event.SuccessfulAcquire({ limiterName: this.name, at: now, permits }))
        if (span !== undefined) this.annotate(span, permits, "permitted", 0)
        return self
      }
      // Refused outright (no mask needed); NaN (a boundary to learn first) falls through.
      const wait = core.earliest(permits, now, now) - now
      if (wait > this.timeoutMillis) return this.refuse(now, permits, wait)
      if (span !== undefined) this.annotate(span, permits, "waiting", wait)
      return Effect.zipRight(this.acquireWaiting(permits), self)
    })
  }

  /** The slow path: reserve within the timeout and sleep until the reservation's time, or refuse. */
  private acquireWaiting(permits: number): Effect.Effect<void, RequestNotPermittedError> {
    return Effect.uninterruptibleMask((restore) =>
      this.decide((now) => {
        const core = this.core
        const at = core.earliest(permits, now, now)
        if (Number.isNaN(at)) return undefined
        const wait = at - now
        if (!(wait <= this.timeoutMillis)) return this.refuse(now, permits, wait)
        const ticket = core.reserveAt(permits, now, at)
        if (wait <= 0) {
          this.published(now, permits)
          return Effect.void
        }
        return awaitReservation(restore, [{ limiter: this, core, ticket }], permits, wait)
      })
    )
  }

  readonly acquire = (permits = 1): Effect.Effect<void, RequestNotPermittedError> =>
    checkPermits(permits, this.guard(Effect.void, permits))

  readonly tryAcquire = (permits = 1): Effect.Effect<boolean> =>
    checkPermits(
      permits,
      this.decide((now) => {
        const core = this.core
        if (this.quota !== undefined && this.quotaRefusal(permits, now) !== undefined) {
          this.failedAcquires++
          if (this.hub.listening) this.offer(Event.FailedAcquire({ limiterName: this.name, at: now, permits }))
          return Effect.succeed(false)
        }
        if (core.tryTake(permits, now)) {
          this.published(now, permits)
          return Effect.succeed(true)
        }
        if (!core.known(now)) return undefined
        this.failedAcquires++
        if (this.hub.listening) this.offer(Event.FailedAcquire({ limiterName: this.name, at: now, permits }))
        return Effect.succeed(false)
      })
    )

  published(now: number, permits: number): void {
    this.successfulAcquires++
    if (this.hub.subscribers > 0) this.offer(Event.SuccessfulAcquire({ limiterName: this.name, at: now, permits }))
  }

  refuse(now: number, permits: number, wait: number): Effect.Effect<never, RequestNotPermittedError> {
    this.failedAcquires++
    if (this.hub.listening) this.offer(Event.FailedAcquire({ limiterName: this.name, at: now, permits }))
    const span = currentSpan()
    if (span !== undefined) {
      this.annotate(span, permits, "refused", wait)
      spanEvent(span, now, "breakwater.ratelimiter.request_not_permitted", {
        "breakwater.ratelimiter.name": this.name,
        "breakwater.ratelimiter.permits": permits,
        "breakwater.retry_after_ms": Number.isFinite(wait) ? wait : undefined
      })
    }
    return Effect.fail(this.refusal(now, permits, wait))
  }

  /** What a trace shows of this limiter on a guarded call. */
  private annotate(span: Tracer.Span, permits: number, decision: string, waitMillis: number): void {
    span.attribute("breakwater.ratelimiter.name", this.name)
    span.attribute("breakwater.ratelimiter.permits", permits)
    span.attribute("breakwater.ratelimiter.decision", decision)
    span.attribute("breakwater.ratelimiter.wait_ms", Number.isFinite(waitMillis) ? waitMillis : -1)
  }

  private lastRefusal: RequestNotPermittedError | undefined
  private lastRefusalAt = Number.NaN
  private lastRefusalWait = Number.NaN

  /** Refusals in the same millisecond with the same wait and permits share one (immutable) error. */
  private refusal(now: number, permits: number, wait: number): RequestNotPermittedError {
    const last = this.lastRefusal
    if (
      last !== undefined && this.lastRefusalAt === now && this.lastRefusalWait === wait && last.permits === permits &&
      last.limiterName === this.name
    ) {
      return last
    }
    const retryAfter = Number.isFinite(wait) ? Option.some(Duration.millis(Math.max(0, wait))) : Option.none()
    const error = withoutStackTrace(() => new RequestNotPermittedError({ limiterName: this.name, permits, retryAfter }))
    this.lastRefusal = error
    this.lastRefusalAt = now
    this.lastRefusalWait = wait
    return error
  }

  // ---- events ------------------------------------------------------------------------------------

  offer(event: Event): void {
    this.hub.unsafeOffer(event)
  }

  private publish(event: Event): Effect.Effect<void> {
    return this.hub.publish(event)
  }

  get events(): Stream.Stream<Event> {
    return this.hub.stream
  }

  get subscribe(): Effect.Effect<Stream.Stream<Event>, never, Scope.Scope> {
    return this.hub.subscribed
  }

  // ---- reading and steering ----------------------------------------------------------------------

  readonly metrics: Effect.Effect<Metrics> = this.decide((now) =>
    this.core.known(now)
      ? Effect.succeed({ availablePermissions: this.core.available(now), numberOfWaitingFibers: this.waiting })
      : undefined
  )

  readonly drainPermissions: Effect.Effect<void> = this.decide((now) => {
    if (!this.core.known(now)) return undefined
    const permits = this.core.drain(now)
    return this.publish(Event.Drained({ limiterName: this.name, at: now, permits }))
  })

  readonly changeLimitForPeriod = (limitForPeriod: number) => this.reconfigure({ limitForPeriod })

  readonly changeTimeoutDuration = (timeoutDuration: Duration.DurationInput) => this.reconfigure({ timeoutDuration })

  readonly reconfigure = (options: Omit<Partial<Options>, "name">): Effect.Effect<void, InvalidConfigError> => {
    const merged = { ...this.options, ...options, name: this.options.name } as Options
    return Effect.flatMap(
      decodeOptions(OptionsSchema, "RateLimiter", merged),
      (next) => this.decide((now) => this.apply(merged, next, now))
    )
  }

  /** Applies new settings synchronously; `undefined` when a schedule boundary must be known first. */
  private apply(options: Options, next: Resolved, now: number): Effect.Effect<void> | undefined {
    const previous = this.config
    const core = this.core
    if (next.algorithm !== previous.algorithm) {
      this.core = this.build(next, now)
    } else if (core instanceof FixedWindow) {
      if (!core.known(now)) return undefined
      if (!samePeriod(previous.limitRefreshPeriod, next.limitRefreshPeriod)) {
        // The cycles reserved so far keep their times; the new period starts where they end.
        const firstIndex = core.tailCycle + 1
        const end = core.cycles.startOf(firstIndex)
        if (Number.isNaN(end)) return undefined
        const from = Number.isFinite(end) ? end : now
        const older = settle(core.cycles, now)
        const newer = this.cyclesFrom(next, from, firstIndex)
        core.cycles = new ChainedCycles(older, newer, from)
        const current = newest(newer)
        if (current instanceof ScheduledCycles) this.scheduled = current
      }
      core.setLimit(next.limitForPeriod, now)
    } else if (core instanceof TokenBucket) {
      core.configure(next.limitForPeriod / periodMillis(next), next.capacity ?? next.limitForPeriod, now)
    } else if (core instanceof SlidingWindow) {
      core.window = periodMillis(next)
      core.limit = next.limitForPeriod
    }
    this.options = options
    this.config = next
    this.timeoutMillis = Duration.toMillis(next.timeoutDuration)
    return Effect.void
  }
}

const checkPermits = <A, E, R>(permits: number, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Number.isInteger(permits) && permits >= 1 ? effect : badPermits(permits)

const badPermits = (permits: number) =>
  Effect.dieMessage(`RateLimiter: permits must be a whole number >= 1, got ${permits}`)

/**
 * Sleeps until the reserved time with interruption restored; an interrupted caller gives its
 * reservations back. Runs inside `uninterruptibleMask`, so a reservation is never left unowned.
 */
const awaitReservation = (
  restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>,
  holds: ReadonlyArray<Hold>,
  permits: number,
  wait: number
): Effect.Effect<void> => {
  for (const hold of holds) hold.limiter.waiting++
  return Effect.matchCauseEffect(restore(Effect.sleep(Duration.millis(wait))), {
    onSuccess: () => {
      for (const hold of holds) {
        const limiter = hold.limiter
        limiter.waiting--
        limiter.published(nowMillis(limiter.clock), permits)
      }
      return Effect.void
    },
    onFailure: (cause) => {
      for (const hold of holds) {
        const limiter = hold.limiter
        const now = nowMillis(limiter.clock)
        limiter.waiting--
        if (limiter.core === hold.core) hold.core.release(hold.ticket, permits, now)
        limiter.failedAcquires++
        limiter.offer(Event.FailedAcquire({ limiterName: limiter.name, at: now, permits }))
      }
      return Effect.failCause(cause)
    }
  })
}

/**
 * Creates a rate limiter whose first cycle starts now. Fails with `InvalidConfigError`, listing every
 * bad field, before anything starts. Its event hub lives in the surrounding `Scope`.
 *
 * Where a `Store` is provided (e.g. `RedisStore.layer`), the limiter shares its state under its name with
 * every process using that store: the limit holds for all of them together. Such a limiter decides with
 * the store's clock, on cycles aligned to the store's epoch (not to its creation), asks the store once per
 * call, needs a duration (not a `Schedule`) as period, and sends its settings with every call (all
 * instances should agree on them; `changeLimitForPeriod` changes what this instance asks for). A
 * reservation it waits for is not given back if the waiting caller is interrupted. While the store is
 * unreachable it follows `onStoreFailure`; under `"fail-closed"` it refuses with a
 * `RequestNotPermittedError` whose `cause` is the `StoreError`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const limiter = yield* RateLimiter.make({ name: "partner", limitForPeriod: 10, limitRefreshPeriod: "1 second" })
 *     yield* limiter.acquire(3)
 *     return yield* limiter.metrics // { availablePermissions: 7, numberOfWaitingFibers: 0 }
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<RateLimiter, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* decodeOptions(OptionsSchema, "RateLimiter", options)
    const clock = yield* Effect.clock
    const hub = yield* makeEventHub<Event>()
    const store = yield* Effect.serviceOption(Store)
    if (Option.isSome(store)) return yield* makeDistributed(options, config, clock, hub, store.value)
    return new RateLimiterImpl(options, config, clock, hub)
  })

/**
 * Runs `self` once `permits` (default 1) are granted: at once when they are available, after a wait
 * when they can be had within the timeout, otherwise refused with `RequestNotPermittedError` without
 * running. Dual: `withRateLimiter(self, limiter)` or `self.pipe(withRateLimiter(limiter))`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * declare const limiter: RateLimiter.RateLimiter
 * const guarded = Effect.succeed("ok").pipe(RateLimiter.withRateLimiter(limiter))
 * const heavy = RateLimiter.withRateLimiter(Effect.succeed("report"), limiter, { permits: 5 })
 * ```
 *
 * @since 0.1.0
 */
export const withRateLimiter: {
  (
    limiter: RateLimiter,
    options?: { readonly permits?: number }
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | RequestNotPermittedError, R>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    limiter: RateLimiter,
    options?: { readonly permits?: number }
  ): Effect.Effect<A, E | RequestNotPermittedError, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: RateLimiter, options?: { readonly permits?: number }) => {
    const permits = options?.permits ?? 1
    return checkPermits(permits, (limiter as RateLimiterImpl).guard(self, permits))
  }
)

/**
 * A limiter's resolved configuration, defaults filled in (Resilience4j's `getRateLimiterConfig()`).
 * Durations are `Duration`s; `limitRefreshPeriod` is the cycle schedule when one was given.
 *
 * @example
 * ```ts
 * import type { RateLimiter } from "breakwater"
 *
 * const perPeriod = (config: RateLimiter.Configuration) => `${config.limitForPeriod} per period`
 * ```
 *
 * @since 0.1.0
 */
export interface Configuration {
  readonly name: string
  readonly limitForPeriod: number
  readonly limitRefreshPeriod: Duration.Duration | Schedule.Schedule<unknown, number>
  readonly timeoutDuration: Duration.Duration
  readonly algorithm: "fixed-window" | "token-bucket" | "sliding-window"
  readonly capacity: number | undefined
  readonly onStoreFailure: OnStoreFailure | undefined
  readonly fallbackLimitForPeriod: number | undefined
}

/** What the learned-quota functions find on either kind of limiter (in process, or sharing a store). */
interface Learner {
  learning: boolean
  readonly learnQuota: (quota: LearnedQuota) => Effect.Effect<void>
  readonly lastQuota: { readonly remaining: number; readonly resetAt: number } | undefined
}

/**
 * Teaches a limiter the quota an upstream announced (e.g. `RateLimit: "default";r=4;t=60`): from now
 * on it admits at most `remaining` calls until the reset, on top of its own limit, refusing the others
 * with `RequestNotPermittedError` (its `retryAfter` the time to the reset; a learned quota never makes
 * a caller wait). After the reset, when the policy was announced (`limit` per `windowMillis`), one more
 * window at that policy; then the limiter's own settings alone, until the upstream teaches it again.
 * Two lessons for the same reset (within 1 s) keep the lower count. Counts are capped at 10^9, resets
 * and windows at one day; a quota that resets at once teaches nothing.
 *
 * A limiter made where a `Store` is provided keeps the quota in the store, for every instance of that
 * name: the fleet slows down together. Such a limiter asks the store's quota before each call once it
 * has learned (or {@link learnFromUpstream} says it will): one more round trip per call.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * declare const limiter: RateLimiter.RateLimiter
 * const taught = RateLimiter.learn(limiter, { remaining: 4, resetAfterMillis: 60_000, limit: 5, windowMillis: 60_000 })
 * ```
 *
 * @since 0.1.0
 */
export const learn = (limiter: RateLimiter, quota: LearnedQuota): Effect.Effect<void> =>
  (limiter as unknown as Learner).learnQuota(quota)

/**
 * Makes a limiter consult the learned quota before it has learned one itself: what a limiter sharing a
 * `Store` needs to obey a quota another instance learned. (An in-process limiter needs no such thing.)
 *
 * @example
 * ```ts
 * import { RateLimiter } from "breakwater"
 *
 * declare const limiter: RateLimiter.RateLimiter
 * RateLimiter.learnFromUpstream(limiter)
 * ```
 *
 * @since 0.1.0
 */
export const learnFromUpstream = (limiter: RateLimiter): void => {
  ;(limiter as unknown as Learner).learning = true
}

/**
 * The learned quota as this limiter last saw it (`remaining` calls, reset `resetAt` in `Clock`
 * milliseconds), or `Option.none()` without one in force.
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * declare const limiter: RateLimiter.RateLimiter
 * const left = Effect.map(RateLimiter.learnedQuota(limiter), Option.map((q) => q.remaining))
 * ```
 *
 * @since 0.1.0
 */
export const learnedQuota = (
  limiter: RateLimiter
): Effect.Effect<Option.Option<{ readonly remaining: number; readonly resetAt: number }>> =>
  Effect.clockWith((clock) =>
    Effect.sync(() => {
      const last = (limiter as unknown as Learner).lastQuota
      return last === undefined || last.resetAt <= clock.unsafeCurrentTimeMillis() ? Option.none() : Option.some(last)
    })
  )

/**
 * Reads a limiter's current configuration back (it changes with `changeLimitForPeriod`,
 * `changeTimeoutDuration`, `reconfigure` and `Registry.reload`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * declare const limiter: RateLimiter.RateLimiter
 * const limit = Effect.map(RateLimiter.configuration(limiter), (config) => config.limitForPeriod)
 * ```
 *
 * @since 0.1.0
 */
export const configuration = (limiter: RateLimiter): Effect.Effect<Configuration> =>
  Effect.sync(() => {
    const c = (limiter as unknown as { readonly config: Resolved }).config
    const period = c.limitRefreshPeriod
    return {
      name: c.name,
      limitForPeriod: c.limitForPeriod,
      limitRefreshPeriod: Schedule.isSchedule(period)
        ? (period as Schedule.Schedule<unknown, number>)
        : Duration.decode(period as Duration.DurationInput),
      timeoutDuration: Duration.decode(c.timeoutDuration),
      algorithm: c.algorithm,
      capacity: c.capacity,
      onStoreFailure: c.onStoreFailure,
      fallbackLimitForPeriod: c.fallbackLimitForPeriod
    }
  })

/**
 * The limiter as a {@link Policy}, for `Policy.compose`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * declare const limiter: RateLimiter.RateLimiter
 * const guard = RateLimiter.policy(limiter)
 * const guarded = guard(Effect.succeed(1))
 * ```
 *
 * @since 0.1.0
 */
export const policy = (
  limiter: RateLimiter,
  options?: { readonly permits?: number }
): Policy<RequestNotPermittedError> =>
(self) => withRateLimiter(self, limiter, options)

/**
 * Takes `permits` (default 1) from every limiter or from none: the request is granted only if all of
 * them can grant it within the smallest of their timeouts, at the same moment (the caller then waits
 * for the latest of their reservations); a refusal consumes nothing from any of them. The check and
 * the taking happen in one synchronous step, so no other fiber can interleave.
 *
 * Limiters sharing a `Store` cannot take part in that step: when any of them does, the limiters are
 * acquired one after another, in order, and a refusal does not give back the permits already taken.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * declare const tenant: RateLimiter.RateLimiter
 * declare const global: RateLimiter.RateLimiter
 * const granted = RateLimiter.acquireAll([tenant, global], 2)
 * ```
 *
 * @since 0.1.0
 */
export const acquireAll = (
  limiters: Iterable<RateLimiter>,
  permits = 1
): Effect.Effect<void, RequestNotPermittedError> => {
  const all = Array.from(new Set(limiters)) as Array<RateLimiterImpl>
  if (all.length === 0) return checkPermits(permits, Effect.void)
  if (all.some((limiter) => !(limiter instanceof RateLimiterImpl))) {
    return checkPermits(permits, Effect.forEach(all, (limiter) => limiter.acquire(permits), { discard: true }))
  }
  if (all.length === 1) return all[0]!.acquire(permits)
  const clock = all[0]!.clock
  return checkPermits(
    permits,
    Effect.uninterruptibleMask((restore) => {
      const attempt: Effect.Effect<void, RequestNotPermittedError> = Effect.suspend(() => {
        const now = nowMillis(clock)
        let at = now
        let limiting = all[0]!
        let settled = false
        // Each limiter may push the common moment later; stop when a full pass moves it no more.
        for (let pass = 0; pass < 64 && !settled; pass++) {
          settled = true
          for (const limiter of all) {
            const earliest = limiter.core.earliest(permits, now, at)
            if (Number.isNaN(earliest)) return Effect.zipRight(limiter.extend, attempt)
            if (earliest > at) {
              at = earliest
              limiting = limiter
              settled = false
            }
          }
        }
        let timeout = Infinity
        for (const limiter of all) timeout = Math.min(timeout, limiter.timeoutMillis)
        const wait = settled ? at - now : Infinity
        if (!(wait <= timeout)) return limiting.refuse(now, permits, wait)
        const holds = all.map((limiter): Hold => ({
          limiter,
          core: limiter.core,
          ticket: limiter.core.reserveAt(permits, now, at)
        }))
        if (wait <= 0) {
          for (const limiter of all) limiter.published(now, permits)
          return Effect.void
        }
        return awaitReservation(restore, holds, permits, wait)
      })
      return attempt
    })
  )
}

/**
 * Runs `self` after {@link acquireAll} grants `permits` from every limiter. Dual.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * declare const tenant: RateLimiter.RateLimiter
 * declare const global: RateLimiter.RateLimiter
 * const guarded = Effect.succeed("ok").pipe(RateLimiter.withRateLimiters([tenant, global]))
 * ```
 *
 * @since 0.1.0
 */
export const withRateLimiters: {
  (
    limiters: Iterable<RateLimiter>,
    options?: { readonly permits?: number }
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | RequestNotPermittedError, R>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    limiters: Iterable<RateLimiter>,
    options?: { readonly permits?: number }
  ): Effect.Effect<A, E | RequestNotPermittedError, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, limiters: Iterable<RateLimiter>, options?: { readonly permits?: number }) =>
    Effect.flatMap(acquireAll(limiters, options?.permits ?? 1), () => self)
)

/**
 * One limiter per key (per tenant, per client IP), created on first use from the same options and
 * named `name:key`. At most `maxKeys` keys have state: when full, a new key takes the place of the
 * least recently used key nobody holds (as nginx's `limit_req_zone`), so a flood of distinct keys
 * costs bounded memory and never locks out a new key. A key held by a caller (a scope of
 * {@link Keyed.get}, or a call waiting for its permits) is never evicted; when every key is held, a
 * new key is refused with `RequestNotPermittedError` (no `retryAfter`). A key unused for
 * `idleTimeToLive` is forgotten. An idle key costs its limiter's core (a few hundred bytes) and no
 * timer: expiry is computed from its last use.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const perTenant = yield* RateLimiter.keyed<string>({ name: "tenant", limitForPeriod: 20, limitRefreshPeriod: "1 second" })
 *     return yield* Effect.succeed("report").pipe(perTenant.withRateLimiter("acme"))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export interface Keyed<K> {
  /** The key's limiter, held (never evicted) while the scope is open. */
  readonly get: (key: K) => Effect.Effect<RateLimiter, RequestNotPermittedError, Scope.Scope>
  /** Guards `self` with the key's limiter; the key is held while the call waits for its permits. */
  readonly withRateLimiter: (
    key: K,
    options?: { readonly permits?: number }
  ) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | RequestNotPermittedError, R>
  /** The keys with state that has not expired, least recently used first. */
  readonly keys: Effect.Effect<ReadonlyArray<K>>
}

const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE

/** How long a limiter takes to forget its past, so dropping it after that changes nothing. */
const memoryMillis = (config: Resolved): number => {
  if (Schedule.isSchedule(config.limitRefreshPeriod)) return DAY
  const period = periodMillis(config)
  const forgets = config.algorithm === "token-bucket"
    ? period * (config.capacity ?? config.limitForPeriod) / config.limitForPeriod
    : period
  return Math.max(MINUTE, forgets)
}

/**
 * A key's state. Usually only its limiter's core, with a shell (`RateLimiterImpl`) made while someone
 * holds the key; a limiter that needs more than its core (a schedule's state, a store) keeps its shell.
 */
interface KeyState {
  readonly core: LimiterCore | undefined
  shell: RateLimiter | undefined
}

/**
 * Creates a {@link Keyed} limiter. Fails with `InvalidConfigError` on bad options.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * const perClientIp = RateLimiter.keyed<string>({
 *   name: "ip",
 *   limitForPeriod: 100,
 *   limitRefreshPeriod: "1 minute",
 *   timeoutDuration: 0,
 *   maxKeys: 50_000,
 *   idleTimeToLive: "5 minutes"
 * })
 * const program = Effect.scoped(Effect.flatMap(perClientIp, (limiters) => limiters.keys))
 * ```
 *
 * @since 0.1.0
 */
export const keyed = <K>(options: KeyedOptions): Effect.Effect<Keyed<K>, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* decodeOptions(KeyedOptionsSchema, "RateLimiter", options)
    const { idleTimeToLive: _idle, maxKeys: _max, ...perKey } = options
    const clock = yield* Effect.clock
    const hub = yield* makeEventHub<Event>()
    const store = yield* Effect.serviceOption(Store)
    const idleMillis = Duration.toMillis(config.idleTimeToLive ?? Duration.millis(memoryMillis(config)))
    const table = new KeyTable<K, KeyState>(config.maxKeys, idleMillis)
    const period = config.limitRefreshPeriod
    // Only a limiter on its own with a fixed period lives in its core alone.
    const coreOnly = Option.isNone(store) && !Schedule.isSchedule(period)
    const nameOf = (key: K) => `${config.name}:${String(key)}`
    const settingsOf = (key: K) => {
      const name = nameOf(key)
      return [{ ...perKey, name } as Options, { ...config, name } as Resolved] as const
    }
    const shellOf = (key: K, core: LimiterCore | undefined): Effect.Effect<RateLimiter> => {
      const [keyOptions, keyConfig] = settingsOf(key)
      return Option.isSome(store)
        ? Effect.orDie(makeDistributed(keyOptions, keyConfig, clock, hub, store.value)) // checked below
        : Effect.succeed(new RateLimiterImpl(keyOptions, keyConfig, clock, hub, core))
    }
    // A store refuses some settings (a schedule): say so now, not on a key's first call.
    if (Option.isSome(store)) yield* makeDistributed(perKey as Options, config as Resolved, clock, hub, store.value)
    const settings = coreOnly
      ? {
        algorithm: config.algorithm,
        limitForPeriod: config.limitForPeriod,
        periodMillis: periodMillis(config),
        capacity: config.capacity
      }
      : undefined
    const fresh = (now: number): KeyState => ({
      core: settings === undefined ? undefined : periodicCore(settings, now),
      shell: undefined
    })
    const refused = (key: K, permits: number) =>
      Effect.fail(
        withoutStackTrace(() =>
          new RequestNotPermittedError({ limiterName: nameOf(key), permits, retryAfter: Option.none() })
        )
      )
    /** Holds the key and gives its shell (made now if it has none); `undefined` when every key is held. */
    const hold = (key: K): Effect.Effect<readonly [Slot<K, KeyState>, RateLimiter] | undefined> =>
      Effect.uninterruptible(Effect.suspend(() => {
        const slot = table.entry(key, nowMillis(clock), fresh)
        if (slot === undefined) return Effect.succeed(undefined)
        table.pin(slot)
        const state = slot.value
        if (state.shell !== undefined) return Effect.succeed([slot, state.shell] as const)
        return Effect.map(shellOf(key, state.core), (shell) => {
          // Another holder may have made one meanwhile (a distributed shell is made asynchronously).
          state.shell ??= shell
          return [slot, state.shell] as const
        })
      }))
    const letGo = (slot: Slot<K, KeyState>) =>
      Effect.sync(() => {
        table.unpin(slot, nowMillis(clock))
        // The core carries the key's state; its shell is only needed while someone holds the key.
        if (slot.pins === 0 && coreOnly) slot.value.shell = undefined
      })
    const get = (key: K, permits = 1): Effect.Effect<RateLimiter, RequestNotPermittedError, Scope.Scope> =>
      Effect.flatMap(
        Effect.acquireRelease(hold(key), (held) => held === undefined ? Effect.void : letGo(held[0])),
        (held) => held === undefined ? refused(key, permits) : Effect.succeed(held[1])
      )
    const guarded = <A, E, R>(self: Effect.Effect<A, E, R>, key: K, permits: number) =>
      Effect.suspend((): Effect.Effect<A, E | RequestNotPermittedError, R> => {
        if (coreOnly && Number.isInteger(permits) && permits >= 1) {
          // The hot path: permits available now are taken from the core, with no shell and no hold.
          const now = nowMillis(clock)
          const slot = table.entry(key, now, fresh)
          if (slot === undefined) return refused(key, permits)
          if (slot.value.core!.tryTake(permits, now)) return self
        }
        return Effect.zipRight(
          Effect.scoped(Effect.flatMap(get(key, permits), (limiter) => limiter.acquire(permits))),
          self
        )
      })
    return {
      get: (key) => get(key),
      withRateLimiter: (key, guardOptions) => (self) => guarded(self, key, guardOptions?.permits ?? 1),
      keys: Effect.sync(() => {
        table.sweep(nowMillis(clock))
        return table.keys()
      })
    } satisfies Keyed<K>
  })

/**
 * A Layer that builds the limiter for a service tag; the limiter lives as long as the layer.
 *
 * @example
 * ```ts
 * import { Context, Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * class PartnerLimiter extends Context.Tag("PartnerLimiter")<PartnerLimiter, RateLimiter.RateLimiter>() {}
 *
 * const PartnerLimiterLive = RateLimiter.layer(PartnerLimiter, { name: "partner", limitForPeriod: 100 })
 * const program = Effect.flatMap(PartnerLimiter, (limiter) => limiter.metrics).pipe(Effect.provide(PartnerLimiterLive))
 * ```
 *
 * @since 0.1.0
 */
export const layer = <I>(
  tag: Context.Tag<I, RateLimiter>,
  options: Options
): Layer.Layer<I, InvalidConfigError> => Layer.scoped(tag, make(options))

/**
 * The plain (non-`Schedule`) options read through `effect/Config` under the namespace `name`, e.g.
 * `partner.limitForPeriod` from JSON or `PARTNER_LIMIT_FOR_PERIOD` from the environment with
 * `ConfigProvider.fromEnv().pipe(ConfigProvider.constantCase)`. Absent keys take the defaults; the
 * values are checked by the same Schema as {@link make}'s.
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({ partner: { limitForPeriod: 100, limitRefreshPeriod: "1 second" } })
 * const options = Effect.withConfigProvider(RateLimiter.config("partner"), provider)
 * ```
 *
 * @since 0.1.0
 */
export const config = (name: string): Config.Config<Options> =>
  Config.nested(readFields(configFields), name).pipe(Config.map((values) => ({ ...values, name }) as Options))

/**
 * Like {@link layer}, with the options read from `effect/Config` (see {@link config}); `code` adds
 * what configuration cannot carry (a `Schedule`). Bad values fail with `InvalidConfigError` naming the
 * field; unreadable ones with `ConfigError`.
 *
 * @example
 * ```ts
 * import { Context } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * class PartnerLimiter extends Context.Tag("PartnerLimiter")<PartnerLimiter, RateLimiter.RateLimiter>() {}
 *
 * const PartnerLimiterLive = RateLimiter.layerConfig(PartnerLimiter, RateLimiter.config("partner"))
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = <I>(
  tag: Context.Tag<I, RateLimiter>,
  options: Config.Config<Options>,
  code?: Omit<Options, "name">
): Layer.Layer<I, InvalidConfigError | ConfigError.ConfigError> =>
  Layer.scoped(tag, Effect.flatMap(options, (read) => make({ ...read, ...code } as Options)))
