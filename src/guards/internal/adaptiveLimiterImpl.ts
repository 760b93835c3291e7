/**
 * The adaptive concurrency limiter itself: a pure limit core (AIMD / gradient) that learns from each
 * call's latency and outcome, with waiters admitted in order as the limit allows.
 *
 * @internal
 */
import { decodeOptions, failureOf, isInterruptOnly, nowMillis, restoreDefaults } from "#port"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import { type LimitSettings, type LimitState, nextLimit, SampleWindow } from "../../core/adaptiveLimitCore.js"
import { BulkheadCore } from "../../core/bulkheadCore.js"
import { isLocalRefusal, isTimeout } from "../../core/refusals.js"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import { withoutStackTrace } from "../../shared/internal/errors.js"
import { type EventHub } from "../../shared/internal/eventHub.js"
import { initialLimitOf, LimiterChangesSchema, LimiterOptionsSchema } from "./adaptiveConfig.js"
import { type AdaptiveLimiter, type Changes, Event, LimitExceededError, type Metrics } from "./adaptiveLimiterApi.js"
import { type Restore, waitForSlot, wake } from "./slotWait.js"

export const defaults = Schema.decodeSync(LimiterOptionsSchema)({ name: "defaults" })

export type Decoded = typeof LimiterOptionsSchema.Type

export const settingsOf = (config: Decoded): LimitSettings => ({
  algorithm: config.algorithm,
  minLimit: config.minLimit,
  maxLimit: config.maxLimit,
  backoffRatio: config.backoffRatio,
  timeoutMillis: Duration.toMillis(config.timeout),
  smoothing: config.smoothing,
  tolerance: config.tolerance,
  queueSize: config.queueSize,
  baselineWindows: config.baselineWindows,
  windowMillis: Duration.toMillis(config.windowDuration),
  minWindowSamples: config.minWindowSamples
})

export class AdaptiveLimiterImpl implements AdaptiveLimiter {
  readonly kind = "AdaptiveLimiter" as const
  readonly core: BulkheadCore
  private settings: LimitSettings
  private state: LimitState
  private readonly window: SampleWindow
  private maxWaitMillis: number
  private isDrop: (error: unknown) => boolean
  /** Cumulative counter for metrics, read on collection. */
  rejectedCalls = 0
  private lastRefusedAt = Number.NEGATIVE_INFINITY
  private refusedAtLastRead = 0

  constructor(
    readonly name: string,
    public config: Decoded,
    private readonly clock: Clock.Clock,
    readonly hub: EventHub<Event>
  ) {
    this.settings = settingsOf(config)
    const initialLimit = initialLimitOf(config)
    this.state = { limit: initialLimit, noLoadMillis: NaN }
    this.core = new BulkheadCore(initialLimit)
    this.window = new SampleWindow(nowMillis(clock))
    this.maxWaitMillis = Duration.toMillis(config.maxWaitDuration)
    this.isDrop = (config.isDrop as ((error: unknown) => boolean) | undefined) ?? isTimeout
  }

  guard<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | LimitExceededError, R> {
    const run = (restore: Restore): Effect.Effect<A, E, R> => {
      const startedAt = nowMillis(this.clock)
      const inFlight = this.core.active
      return Effect.matchCauseEffect(restore(self), {
        onSuccess: (value) => {
          this.finish(startedAt, inFlight, false)
          return Effect.succeed(value)
        },
        onFailure: (cause) => {
          if (isInterruptOnly(cause)) this.interrupted(startedAt, inFlight)
          else {
            const failure = failureOf(cause)
            if (Option.isSome(failure) && isLocalRefusal(failure.value)) this.release()
            else this.finish(startedAt, inFlight, Option.isNone(failure) || this.isDrop(failure.value))
          }
          return Effect.failCause(cause)
        }
      })
    }
    return Effect.uninterruptibleMask((restore): Effect.Effect<A, E | LimitExceededError, R> => {
      if (this.core.tryAcquire()) return run(restore)
      return this.maxWaitMillis > 0
        ? waitForSlot(this.core, this.clock, this.maxWaitMillis, restore, () => run(restore), () => this.refuse())
        : this.refuse()
    })
  }

  /** Interrupted before it answered: a drop if it had already outlasted `timeout`, otherwise nothing. */
  private interrupted(startedAt: number, inFlight: number): void {
    if (nowMillis(this.clock) - startedAt > this.settings.timeoutMillis) {
      this.finish(startedAt, inFlight, true)
    } else {
      this.release()
    }
  }

  /**
   * For Health: whether a call was refused within the last window or since the previous read (so a
   * probe that reads rarely still sees a refusal). Calls at the limit are its normal operating point.
   */
  unsafeRefusedRecently(): boolean {
    const refusedSinceRead = this.rejectedCalls > this.refusedAtLastRead
    this.refusedAtLastRead = this.rejectedCalls
    return refusedSinceRead ||
      nowMillis(this.clock) - this.lastRefusedAt < this.settings.windowMillis
  }

  private release(): void {
    const admitted = this.core.release()
    if (admitted.length > 0) wake(admitted)
  }

  /** Records the call's sample and, when its window closes, moves the limit. */
  private finish(startedAt: number, inFlight: number, failed: boolean): void {
    const now = nowMillis(this.clock)
    const millis = now - startedAt
    this.window.add(millis, inFlight, failed || millis > this.settings.timeoutMillis)
    if (this.window.isClosed(this.settings, now)) {
      this.update(nextLimit(this.settings, this.state, this.window.close(now)))
    }
    this.release()
  }

  private update(state: LimitState): void {
    const from = this.core.maxConcurrentCalls
    this.state = state
    const to = Math.floor(state.limit)
    if (to === from) return
    wake(this.core.setMaxConcurrentCalls(to))
    if (this.hub.listening) {
      const at = nowMillis(this.clock)
      this.hub.unsafeOffer(Event.LimitChanged({ limiterName: this.name, at, from, to }))
    }
  }

  private refuse(): Effect.Effect<never, LimitExceededError> {
    this.rejectedCalls++
    const limit = this.core.maxConcurrentCalls
    const at = nowMillis(this.clock)
    this.lastRefusedAt = at
    if (this.hub.listening) {
      this.hub.unsafeOffer(Event.CallRejected({ limiterName: this.name, at, limit }))
    }
    return Effect.fail(
      withoutStackTrace(() => new LimitExceededError({ limiterName: this.name, limit, retryAfter: Option.none() }))
    )
  }

  readonly metrics: Effect.Effect<Metrics> = Effect.sync(() => ({
    limit: this.core.maxConcurrentCalls,
    inFlight: this.core.active,
    waiting: this.core.waiting,
    noLoadLatencyMillis: Number.isNaN(this.state.noLoadMillis) ? -1 : this.state.noLoadMillis,
    rejectedCalls: this.rejectedCalls
  }))

  get events(): Stream.Stream<Event> {
    return this.hub.stream
  }

  get subscribe(): Effect.Effect<Stream.Stream<Event>, never, Scope.Scope> {
    return this.hub.subscribed
  }

  readonly reconfigure = (changes: Changes): Effect.Effect<void, InvalidConfigError> =>
    Effect.flatMap(
      decodeOptions(LimiterChangesSchema, "AdaptiveLimiter", {
        ...restoreDefaults(changes, defaults),
        name: this.name
      }),
      (decoded) => {
        const { name: _, ...given } = decoded
        const present = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined))
        const merged = { ...this.config, ...present } as Decoded
        // The initial limit only mattered at creation: keep it within new bounds unless it is changed.
        const next = given.initialLimit === undefined && merged.initialLimit !== undefined &&
            merged.minLimit <= merged.maxLimit
          ? { ...merged, initialLimit: Math.min(merged.maxLimit, Math.max(merged.minLimit, merged.initialLimit)) }
          : merged
        return Effect.flatMap(decodeOptions(LimiterOptionsSchema, "AdaptiveLimiter", next), (config) =>
          Effect.sync(() => {
            this.config = config
            this.settings = settingsOf(config)
            this.maxWaitMillis = Duration.toMillis(config.maxWaitDuration)
            this.isDrop = (config.isDrop as ((error: unknown) => boolean) | undefined) ?? isTimeout
            const limit = Math.min(config.maxLimit, Math.max(config.minLimit, this.state.limit))
            this.update({ limit, noLoadMillis: this.state.noLoadMillis })
          }))
      }
    )
}
