/**
 * The in-process rate limiter: a pure limiter core (fixed window, token bucket, sliding window) on
 * Effect's `Clock`, with reservations that waiting callers hold and give back when interrupted.
 *
 * @internal
 */
import {
  decodeOptions,
  dieMessage,
  type DurationInput,
  makeStepper,
  nowMillis,
  type Stepper,
  toDuration,
  type UserSchedule
} from "#port"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import {
  learn as learnQuota,
  type Quota,
  sanitize as sanitizeQuota,
  take as takeQuota
} from "../../core/learnedQuota.js"
import { FixedWindow, type LimiterCore, SlidingWindow, TokenBucket } from "../../core/rateLimiterCore.js"
import {
  ChainedCycles,
  type Cycles,
  newest,
  PeriodicCycles,
  ScheduledCycles,
  settle
} from "../../core/rateLimiterCycles.js"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import { withoutStackTrace } from "../../shared/internal/errors.js"
import { type EventHub } from "../../shared/internal/eventHub.js"
import { currentSpan, spanEvent } from "../../shared/internal/observe.js"
import type { LearnedQuota } from "../../store/RateLimiterStore.js"
import { Event, type Metrics, type Options, type RateLimiter, RequestNotPermittedError } from "./rateLimiterApi.js"
import { OptionsSchema } from "./rateLimiterConfig.js"

export type Resolved = typeof OptionsSchema.Type

/** A reservation held by a waiting caller, given back if it is interrupted. */
export interface Hold {
  readonly limiter: RateLimiterImpl
  readonly core: LimiterCore
  readonly ticket: number
}

const samePeriod = (a: Resolved["limitRefreshPeriod"], b: Resolved["limitRefreshPeriod"]): boolean =>
  Schedule.isSchedule(a) || Schedule.isSchedule(b)
    ? a === b
    : Duration.equals(toDuration(a as DurationInput), toDuration(b as DurationInput))

export const periodMillis = (config: Resolved): number => Duration.toMillis(config.limitRefreshPeriod as DurationInput)

export class RateLimiterImpl implements RateLimiter {
  readonly kind = "RateLimiter" as const
  core: LimiterCore
  waiting = 0
  /** Cumulative counters for metrics, read on collection (never reset). */
  successfulAcquires = 0
  failedAcquires = 0
  timeoutMillis: number
  /** The schedule whose recurrences are pushed into `scheduled`, the newest scheduled cycles. */
  private schedule: UserSchedule<number> | undefined
  /** Steps `schedule` (made by the first `extend` after the schedule is set, so a new one starts over). */
  private stepper: Stepper<number> | undefined
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
    this.schedule = period as UserSchedule<number>
    this.stepper = undefined
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
    const after = (step: Stepper<number>, from: number, tries = 0): Effect.Effect<number> =>
      Effect.flatMap(step(from, cycles.lastIndex), (next) =>
        // Schedule.fixed answers `from` itself once when it is running behind; ask again.
        next > from ? Effect.succeed(next) : tries < 8 ? after(step, from, tries + 1) : Effect.succeed(Infinity))
    const stepper = this.stepper === undefined
      ? Effect.map(makeStepper(schedule), (made) => {
        if (this.schedule === schedule && this.scheduled === cycles) this.stepper ??= made
        return made
      })
      : Effect.succeed(this.stepper)
    return Effect.flatMap(stepper, (step) =>
      Effect.flatMap(after(step, horizon), (next) => {
        if (this.scheduled !== cycles || cycles.horizon !== horizon) return Effect.void // someone else did it
        cycles.push(next)
        const now = nowMillis(this.clock)
        if (next > now) return Effect.void
        return Effect.map(after(step, now), (later) => {
          if (this.scheduled === cycles && cycles.horizon === next) cycles.push(later)
        })
      }))
  })

  /**
   * Runs a synchronous decision; when it needs cycle boundaries not known yet (it returns
   * `undefined`), steps the schedule and decides again.
   */
  decide<A, E>(f: (now: number) => Effect.Effect<A, E> | undefined): Effect.Effect<A, E> {
    const loop: Effect.Effect<A, E> = Effect.suspend(() =>
      f(nowMillis(this.clock)) ?? Effect.andThen(this.extend, loop)
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
      return Effect.andThen(this.acquireWaiting(permits), self)
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

  readonly changeTimeoutDuration = (timeoutDuration: DurationInput) => this.reconfigure({ timeoutDuration })

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

export const checkPermits = <A, E, R>(permits: number, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Number.isInteger(permits) && permits >= 1 ? effect : badPermits(permits)

const badPermits = (permits: number) => dieMessage(`RateLimiter: permits must be a whole number >= 1, got ${permits}`)

/**
 * Sleeps until the reserved time with interruption restored; an interrupted caller gives its
 * reservations back. Runs inside `uninterruptibleMask`, so a reservation is never left unowned.
 */
export const awaitReservation = (
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
