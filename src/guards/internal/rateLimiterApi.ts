/**
 * The rate limiter's vocabulary: its options, metrics, refusal, events and service interface. Below both
 * the in-process limiter and the shared one (`distributedRateLimiter`), which implement it; the public
 * `RateLimiter` module re-exports all of it.
 *
 * @internal
 */
import type { DurationInput, UserSchedule } from "#port"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import { type OnStoreFailure, type StoreError } from "../../store/Store.js"

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
  readonly limitRefreshPeriod?: DurationInput | UserSchedule<number>
  /** How long a caller may wait for its permits; 0 = refuse at once. Default 5 seconds. */
  readonly timeoutDuration?: DurationInput
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
 * The options of a `RateLimiter.keyed` limiter: those of each key's limiter, plus the bounds on keys.
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
  readonly idleTimeToLive?: DurationInput
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
 * A running rate limiter. Obtain one with `RateLimiter.make` or `RateLimiter.layer`; guard calls with
 * `RateLimiter.withRateLimiter` or `RateLimiter.policy`.
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
  readonly changeTimeoutDuration: (timeout: DurationInput) => Effect.Effect<void, InvalidConfigError>
  /**
   * Changes any options but the name in place, checked like `RateLimiter.make`'s. The limiter keeps its
   * state: a new limit or period applies from the next cycle, a token bucket keeps its tokens, a
   * sliding window its grants. Reservations already made stand, even where they exceed a lowered limit
   * (they were granted under the old one); later requests queue after them, within the new limit per
   * cycle. Only a change of `algorithm` starts afresh.
   */
  readonly reconfigure: (options: Omit<Partial<Options>, "name">) => Effect.Effect<void, InvalidConfigError>
}
