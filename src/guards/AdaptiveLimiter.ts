/**
 * An adaptive concurrency limiter, after Netflix's concurrency-limits: a bulkhead whose limit moves
 * with the latency and the failures it measures. When the dependency slows down (calls queue inside
 * it) or drops calls, the limit falls; when it keeps up, the limit grows until it no longer does.
 *
 * Two algorithms (see `algorithm`):
 * - `"gradient"` (default), Netflix's `Gradient2Limit`: compares the recent latency to a long-term
 *   no-load baseline and scales the limit by their ratio (between 0.5 and 1), plus a small queue
 *   allowance (`queueSize`) so it keeps probing upward. Needs no latency threshold.
 * - `"aimd"`, Netflix's `AIMDLimit`: +1 per window while the limit is in use, × `backoffRatio` on a
 *   window with a drop (a call slower than `timeout`, a defect, breakwater's `TimeoutExceededError`,
 *   or a failure that `isDrop` accepts). Reacts to latency only through `timeout`, so set it a little
 *   above the dependency's normal latency. The gradient ignores drops, as Gradient2 does.
 *
 * Both update once per window (`windowDuration`, at least `minWindowSamples` calls), as Netflix's
 * `WindowedLimit` and failsafe-go's adaptive limiter do; see `internal/adaptiveLimitCore.ts` for where
 * breakwater differs from them.
 *
 * ## When to use
 * In front of a dependency whose capacity you do not know, or that changes (autoscaling, noisy
 * neighbours, degraded replicas): instead of a fixed `Bulkhead` limit that is either too low or too
 * high, the limit follows what the dependency can take.
 *
 * ## Gotchas
 * - The limiter learns only from calls that run: with little traffic it keeps its current limit.
 * - The no-load baseline is a long average (`baselineWindows` windows, 10 minutes by default): after
 *   the dependency becomes permanently slower, the gradient limit stays low until the baseline has
 *   caught up (Gradient2 behaves the same).
 * - A typed failure is an answer, not an overload signal, unless `isDrop` says so: by default only
 *   defects and `TimeoutExceededError` are drops. Business errors must not shrink the limit.
 * - Local refusals by breakwater's guards inside it (`CallNotPermittedError`, `RequestNotPermittedError`,
 *   `BulkheadFullError`, `LimitExceededError`, `ThrottledError`) never reached the dependency: they
 *   are neither samples nor drops, whatever `isDrop` says.
 * - An interrupted call (a hedge's loser, a caller's timeout outside it) teaches nothing, unless it
 *   had already run longer than `timeout`: then it is a drop, so a limiter inside a `Hedge` or a
 *   `TimeLimiter` still learns that the dependency is slow.
 * - The default `maxWaitDuration` is 0: a call over the limit is refused at once with
 *   `LimitExceededError`; give a wait to queue callers (FIFO).
 * - It counts calls in this process only.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * const search = (q: string) => Effect.succeed([q])
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const limiter = yield* AdaptiveLimiter.make({ name: "search", minLimit: 5, maxLimit: 500 })
 *     return yield* search("effect").pipe(AdaptiveLimiter.withAdaptiveLimiter(limiter))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import { type LimitSettings, type LimitState, nextLimit, SampleWindow } from "../core/adaptiveLimitCore.js"
import { Admitted, BulkheadCore, Waiter, Waiting } from "../core/bulkheadCore.js"
import { isLocalRefusal, isTimeout } from "../core/refusals.js"
import { withoutStackTrace } from "../shared/internal/errors.js"
import { type EventHub, makeEventHub } from "../shared/internal/eventHub.js"
import { decodeOptions, readFields, restoreDefaults } from "../shared/internal/validation.js"
import type { InvalidConfigError } from "../shared/InvalidConfigError.js"
import type { Policy } from "../shared/Policy.js"
import {
  initialLimitOf,
  LimiterChangesSchema,
  limiterConfigFields,
  LimiterOptionsSchema
} from "./internal/adaptiveConfig.js"

const defaults = Schema.decodeSync(LimiterOptionsSchema)({ name: "defaults" })

/**
 * The limiter's options. Durations accept any `Duration.DurationInput`.
 *
 * @example
 * ```ts
 * import type { AdaptiveLimiter } from "breakwater"
 *
 * const options: AdaptiveLimiter.Options = { name: "search", algorithm: "aimd", timeout: "300 millis" }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  readonly name: string
  /** `"gradient"` (default, latency-driven) or `"aimd"` (drop-driven). */
  readonly algorithm?: "gradient" | "aimd"
  /** The limit to start from, in [minLimit, maxLimit]. Default 20 (or the nearest bound). */
  readonly initialLimit?: number
  /** The limit never falls below this, a whole number >= 1. Default 1. */
  readonly minLimit?: number
  /** The limit never grows above this. Default 200. */
  readonly maxLimit?: number
  /** The factor a window with a drop multiplies the limit by, in [0.5, 0.99]. Default 0.9. */
  readonly backoffRatio?: number
  /** A call slower than this counts as a drop. Default 5 seconds. */
  readonly timeout?: Duration.DurationInput
  /** Gradient: how much of each new estimate is taken, in [0.01, 1]. Default 0.2. */
  readonly smoothing?: number
  /** Gradient: how much slower than the baseline still counts as unloaded, >= 1. Default 1. */
  readonly tolerance?: number
  /** Gradient: calls allowed to queue in the dependency, the upward probe per window. Default 4. */
  readonly queueSize?: number
  /** Gradient: windows the no-load baseline averages over. Default 600. */
  readonly baselineWindows?: number
  /** The shortest window between two limit updates. Default 1 second. */
  readonly windowDuration?: Duration.DurationInput
  /** The fewest calls a window needs before the limit is updated. Default 10. */
  readonly minWindowSamples?: number
  /** How long a call may wait for room under the limit; 0 (default) refuses at once. */
  readonly maxWaitDuration?: Duration.DurationInput
  /**
   * Which typed failures are drops (overload signals; only `"aimd"` reacts to them). Default: only
   * `TimeoutExceededError`. Defects and calls slower than `timeout` always are; breakwater's local
   * refusals never are.
   */
  readonly isDrop?: (error: unknown) => boolean
}

/**
 * New settings for a running limiter (see `reconfigure`); absent fields stay as they are.
 *
 * @example
 * ```ts
 * import type { AdaptiveLimiter } from "breakwater"
 *
 * const wider: AdaptiveLimiter.Changes = { maxLimit: 1000 }
 * ```
 *
 * @since 0.1.0
 */
export type Changes = Omit<Options, "name">

/**
 * The limiter's figures, read now.
 *
 * @example
 * ```ts
 * import type { AdaptiveLimiter } from "breakwater"
 *
 * const headroom = (m: AdaptiveLimiter.Metrics) => m.limit - m.inFlight
 * ```
 *
 * @since 0.1.0
 */
export interface Metrics {
  /** The current limit (whole calls). */
  readonly limit: number
  readonly inFlight: number
  /** Calls queued for room under the limit. */
  readonly waiting: number
  /** The estimated latency of the dependency at no load, in millis; -1 before the first window. */
  readonly noLoadLatencyMillis: number
  /** Calls refused since creation. */
  readonly rejectedCalls: number
}

/**
 * A call was refused: the limit was reached and it could not wait (or waited in vain).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * const shed = (self: Effect.Effect<string, AdaptiveLimiter.LimitExceededError>) =>
 *   self.pipe(Effect.catchTag("LimitExceededError", (e) => Effect.succeed(`busy (limit ${e.limit})`)))
 * ```
 *
 * @since 0.1.0
 */
export class LimitExceededError extends Data.TaggedError("LimitExceededError")<{
  readonly limiterName: string
  readonly limit: number
  readonly retryAfter: Option.Option<Duration.Duration>
}> {
  override get message(): string {
    return `AdaptiveLimiter '${this.limiterName}' is at its limit of ${this.limit} and does not permit further calls`
  }
}

/**
 * What a limiter reports: every change of the limit and every refusal (both rare events), each with
 * the limiter's name and the `Clock` time in epoch millis.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * const logLimit = (limiter: AdaptiveLimiter.AdaptiveLimiter) =>
 *   limiter.events.pipe(
 *     Stream.filter(AdaptiveLimiter.Event.$is("LimitChanged")),
 *     Stream.runForEach((e) => Effect.log(`${e.limiterName}: ${e.from} -> ${e.to}`))
 *   )
 * ```
 *
 * @since 0.1.0
 */
export type Event = Data.TaggedEnum<{
  LimitChanged: { readonly limiterName: string; readonly at: number; readonly from: number; readonly to: number }
  CallRejected: { readonly limiterName: string; readonly at: number; readonly limit: number }
}>

/**
 * Constructors and guards for {@link Event}.
 *
 * @example
 * ```ts
 * import { AdaptiveLimiter } from "breakwater"
 *
 * const isRejection = AdaptiveLimiter.Event.$is("CallRejected")
 * ```
 *
 * @since 0.1.0
 */
export const Event = Data.taggedEnum<Event>()

/**
 * A running adaptive limiter. Obtain one with {@link make}; guard calls with
 * {@link withAdaptiveLimiter} or {@link policy}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * const report = (limiter: AdaptiveLimiter.AdaptiveLimiter) =>
 *   Effect.flatMap(limiter.metrics, (m) => Effect.log(`${limiter.name}: ${m.inFlight}/${m.limit}`))
 * ```
 *
 * @since 0.1.0
 */
export interface AdaptiveLimiter {
  readonly kind: "AdaptiveLimiter"
  readonly name: string
  readonly metrics: Effect.Effect<Metrics>
  /** Events from the moment of subscription. */
  readonly events: Stream.Stream<Event>
  /**
   * Subscribes now, in the caller's `Scope`, and returns the events from that moment. Use it where
   * the first event matters: `events` subscribes only when the stream starts running, so a fiber
   * forked to read it may attach after the event (`Effect.yieldNow()` does not guarantee otherwise);
   * after `const events = yield* guard.subscribe`, nothing is missed.
   */
  readonly subscribe: Effect.Effect<Stream.Stream<Event>, never, Scope.Scope>
  /** Changes the settings in place; the current limit is kept (within the new bounds). */
  readonly reconfigure: (changes: Changes) => Effect.Effect<void, InvalidConfigError>
}

type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
type Decoded = typeof LimiterOptionsSchema.Type

const settingsOf = (config: Decoded): LimitSettings => ({
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

const wake = (admitted: ReadonlyArray<Waiter>): void => {
  for (let i = 0; i < admitted.length; i++) admitted[i]!.wake?.()
}

class AdaptiveLimiterImpl implements AdaptiveLimiter {
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
    this.window = new SampleWindow(clock.unsafeCurrentTimeMillis())
    this.maxWaitMillis = Duration.toMillis(config.maxWaitDuration)
    this.isDrop = (config.isDrop as ((error: unknown) => boolean) | undefined) ?? isTimeout
  }

  guard<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | LimitExceededError, R> {
    const run = (restore: Restore): Effect.Effect<A, E, R> => {
      const startedAt = this.clock.unsafeCurrentTimeMillis()
      const inFlight = this.core.active
      return Effect.matchCauseEffect(restore(self), {
        onSuccess: (value) => {
          this.finish(startedAt, inFlight, false)
          return Effect.succeed(value)
        },
        onFailure: (cause) => {
          if (Cause.isInterruptedOnly(cause)) this.interrupted(startedAt, inFlight)
          else {
            const failure = Cause.failureOption(cause)
            if (Option.isSome(failure) && isLocalRefusal(failure.value)) this.release()
            else this.finish(startedAt, inFlight, Option.isNone(failure) || this.isDrop(failure.value))
          }
          return Effect.failCause(cause)
        }
      })
    }
    return Effect.uninterruptibleMask((restore): Effect.Effect<A, E | LimitExceededError, R> => {
      if (this.core.tryAcquire()) return run(restore)
      return this.maxWaitMillis > 0 ? this.waitThenRun(restore, run) : this.refuse()
    })
  }

  /** Interrupted before it answered: a drop if it had already outlasted `timeout`, otherwise nothing. */
  private interrupted(startedAt: number, inFlight: number): void {
    if (this.clock.unsafeCurrentTimeMillis() - startedAt > this.settings.timeoutMillis) {
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
      this.clock.unsafeCurrentTimeMillis() - this.lastRefusedAt < this.settings.windowMillis
  }

  private release(): void {
    const admitted = this.core.release()
    if (admitted.length > 0) wake(admitted)
  }

  /** Records the call's sample and, when its window closes, moves the limit. */
  private finish(startedAt: number, inFlight: number, failed: boolean): void {
    const now = this.clock.unsafeCurrentTimeMillis()
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
      const at = this.clock.unsafeCurrentTimeMillis()
      this.hub.unsafeOffer(Event.LimitChanged({ limiterName: this.name, at, from, to }))
    }
  }

  /** Like `Bulkhead`'s: queued masked, waits interruptibly, leaves the queue on timeout or interruption. */
  private waitThenRun<A, E, R>(
    restore: Restore,
    run: (restore: Restore) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | LimitExceededError, R> {
    const core = this.core
    const waiter = new Waiter()
    core.enqueue(waiter)
    const admission = Effect.async<void>((resume) => {
      if (waiter.status === Waiting) waiter.wake = () => resume(Effect.void)
      else resume(Effect.void)
    })
    const waited = (timer: Fiber.RuntimeFiber<void> | undefined) =>
      Effect.matchCauseEffect(restore(admission), {
        onSuccess: (): Effect.Effect<A, E | LimitExceededError, R> => {
          timer?.unsafeInterruptAsFork(FiberId.none)
          return waiter.status === Admitted ? run(restore) : this.refuse()
        },
        onFailure: (cause) => {
          timer?.unsafeInterruptAsFork(FiberId.none)
          wake(core.leave(waiter).admitted)
          return Effect.failCause(cause)
        }
      })
    if (!Number.isFinite(this.maxWaitMillis)) return waited(undefined)
    const expiry = Effect.interruptible(this.clock.sleep(Duration.millis(this.maxWaitMillis))).pipe(
      Effect.zipRight(Effect.sync(() => {
        if (waiter.status === Waiting) {
          core.leave(waiter)
          waiter.wake?.()
        }
      }))
    )
    return Effect.flatMap(Effect.fork(expiry), waited)
  }

  private refuse(): Effect.Effect<never, LimitExceededError> {
    this.rejectedCalls++
    const limit = this.core.maxConcurrentCalls
    const at = this.clock.unsafeCurrentTimeMillis()
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

/**
 * Creates a limiter at `initialLimit`. Fails with `InvalidConfigError`, listing every bad field.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const limiter = yield* AdaptiveLimiter.make({ name: "db", initialLimit: 10, maxWaitDuration: "50 millis" })
 *     return yield* limiter.metrics // { limit: 10, inFlight: 0, waiting: 0, noLoadLatencyMillis: -1, rejectedCalls: 0 }
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<AdaptiveLimiter, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* decodeOptions(LimiterOptionsSchema, "AdaptiveLimiter", options)
    const clock = yield* Effect.clock
    const hub = yield* makeEventHub<Event>()
    return new AdaptiveLimiterImpl(config.name, config, clock, hub)
  })

/**
 * Runs `self` under the limit: at once when there is room, after waiting (at most
 * `maxWaitDuration`), or not at all, failing with `LimitExceededError`. Its duration and outcome
 * feed the limit. Dual.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * declare const limiter: AdaptiveLimiter.AdaptiveLimiter
 * const guarded = Effect.succeed("ok").pipe(AdaptiveLimiter.withAdaptiveLimiter(limiter))
 * ```
 *
 * @since 0.1.0
 */
export const withAdaptiveLimiter: {
  (limiter: AdaptiveLimiter): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | LimitExceededError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: AdaptiveLimiter): Effect.Effect<A, E | LimitExceededError, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: AdaptiveLimiter) => (limiter as AdaptiveLimiterImpl).guard(self)
)

/**
 * An adaptive limiter's current configuration, defaults filled in (durations as `Duration`s).
 *
 * @example
 * ```ts
 * import type { AdaptiveLimiter } from "breakwater"
 *
 * const bounds = (config: AdaptiveLimiter.Configuration) => `${config.minLimit}..${config.maxLimit}`
 * ```
 *
 * @since 0.1.0
 */
export interface Configuration {
  readonly name: string
  readonly algorithm: "gradient" | "aimd"
  readonly initialLimit: number | undefined
  readonly minLimit: number
  readonly maxLimit: number
  readonly backoffRatio: number
  readonly timeout: Duration.Duration
  readonly smoothing: number
  readonly tolerance: number
  readonly queueSize: number
  readonly baselineWindows: number
  readonly windowDuration: Duration.Duration
  readonly minWindowSamples: number
  readonly maxWaitDuration: Duration.Duration
  readonly isDrop: ((error: unknown) => boolean) | undefined
}

/**
 * Reads an adaptive limiter's current configuration back (it changes with `reconfigure`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * declare const limiter: AdaptiveLimiter.AdaptiveLimiter
 * const ceiling = Effect.map(AdaptiveLimiter.configuration(limiter), (config) => config.maxLimit)
 * ```
 *
 * @since 0.1.0
 */
export const configuration = (limiter: AdaptiveLimiter): Effect.Effect<Configuration> =>
  Effect.sync(() => {
    const c = (limiter as unknown as { readonly config: Decoded }).config
    return {
      name: limiter.name,
      algorithm: c.algorithm,
      initialLimit: c.initialLimit,
      minLimit: c.minLimit,
      maxLimit: c.maxLimit,
      backoffRatio: c.backoffRatio,
      timeout: Duration.decode(c.timeout),
      smoothing: c.smoothing,
      tolerance: c.tolerance,
      queueSize: c.queueSize,
      baselineWindows: c.baselineWindows,
      windowDuration: Duration.decode(c.windowDuration),
      minWindowSamples: c.minWindowSamples,
      maxWaitDuration: Duration.decode(c.maxWaitDuration),
      isDrop: c.isDrop as ((error: unknown) => boolean) | undefined
    }
  })

/**
 * The limiter as a {@link Policy}, for `Policy.compose`.
 *
 * @example
 * ```ts
 * import { AdaptiveLimiter, CircuitBreaker, Policy } from "breakwater"
 *
 * declare const limiter: AdaptiveLimiter.AdaptiveLimiter
 * declare const breaker: CircuitBreaker.CircuitBreaker
 * const guard = Policy.compose(CircuitBreaker.policy(breaker), AdaptiveLimiter.policy(limiter))
 * ```
 *
 * @since 0.1.0
 */
export const policy = (limiter: AdaptiveLimiter): Policy<LimitExceededError> => (self) =>
  withAdaptiveLimiter(self, limiter)

/**
 * A Layer that builds the limiter for a service tag.
 *
 * @example
 * ```ts
 * import { Context } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * class SearchLimiter extends Context.Tag("SearchLimiter")<SearchLimiter, AdaptiveLimiter.AdaptiveLimiter>() {}
 *
 * const SearchLimiterLive = AdaptiveLimiter.layer(SearchLimiter, { name: "search" })
 * ```
 *
 * @since 0.1.0
 */
export const layer = <I>(tag: Context.Tag<I, AdaptiveLimiter>, options: Options): Layer.Layer<I, InvalidConfigError> =>
  Layer.scoped(tag, make(options))

/**
 * The options read through `effect/Config` under the namespace `name` (e.g. `search.maxLimit`);
 * checked by the same Schema as {@link make}'s. `isDrop` can only be given in code.
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({ search: { algorithm: "aimd", maxLimit: 100 } })
 * const options = Effect.withConfigProvider(AdaptiveLimiter.config("search"), provider)
 * ```
 *
 * @since 0.1.0
 */
export const config = (name: string): Config.Config<Options> =>
  Config.nested(readFields(limiterConfigFields), name).pipe(Config.map((values) => ({ ...values, name }) as Options))

/**
 * Like {@link layer}, with the options read from `effect/Config`; `code` overrides what was read.
 *
 * @example
 * ```ts
 * import { Context } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * class SearchLimiter extends Context.Tag("SearchLimiter")<SearchLimiter, AdaptiveLimiter.AdaptiveLimiter>() {}
 *
 * const SearchLimiterLive = AdaptiveLimiter.layerConfig(SearchLimiter, AdaptiveLimiter.config("search"))
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = <I>(
  tag: Context.Tag<I, AdaptiveLimiter>,
  options: Config.Config<Options>,
  code?: Changes
): Layer.Layer<I, InvalidConfigError | ConfigError.ConfigError> =>
  Layer.scoped(tag, Effect.flatMap(options, (read) => make({ ...read, ...code })))
