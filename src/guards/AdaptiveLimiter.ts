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
import {
  type ConfigFailure,
  currentClock,
  decodeOptions,
  layerScoped,
  readFields,
  type ServiceKey,
  toDuration
} from "#port"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import { makeEventHub } from "../shared/internal/eventHub.js"
import type { Policy } from "../shared/Policy.js"
import { limiterConfigFields, LimiterOptionsSchema } from "./internal/adaptiveConfig.js"
import {
  type AdaptiveLimiter,
  type Changes,
  Event,
  LimitExceededError,
  type Options
} from "./internal/adaptiveLimiterApi.js"
export {
  type AdaptiveLimiter,
  type Changes,
  Event,
  LimitExceededError,
  type Metrics,
  type Options
} from "./internal/adaptiveLimiterApi.js"
import { AdaptiveLimiterImpl, type Decoded } from "./internal/adaptiveLimiterImpl.js"

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
    const clock = yield* currentClock
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
      timeout: toDuration(c.timeout),
      smoothing: c.smoothing,
      tolerance: c.tolerance,
      queueSize: c.queueSize,
      baselineWindows: c.baselineWindows,
      windowDuration: toDuration(c.windowDuration),
      minWindowSamples: c.minWindowSamples,
      maxWaitDuration: toDuration(c.maxWaitDuration),
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
 * // Effect 3
 * import { Context } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * class SearchLimiter extends Context.Tag("SearchLimiter")<SearchLimiter, AdaptiveLimiter.AdaptiveLimiter>() {}
 *
 * const SearchLimiterLive = AdaptiveLimiter.layer(SearchLimiter, { name: "search" })
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * class SearchLimiter extends Context.Service<SearchLimiter, AdaptiveLimiter.AdaptiveLimiter>()("SearchLimiter") {}
 *
 * const SearchLimiterLive = AdaptiveLimiter.layer(SearchLimiter, { name: "search" })
 * ```
 *
 * @since 0.1.0
 */
export const layer = <I>(tag: ServiceKey<I, AdaptiveLimiter>, options: Options): Layer.Layer<I, InvalidConfigError> =>
  layerScoped(tag, make(options))

/**
 * The options read through `effect/Config` under the namespace `name` (e.g. `search.maxLimit`);
 * checked by the same Schema as {@link make}'s. `isDrop` can only be given in code.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { ConfigProvider, Effect } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({ search: { algorithm: "aimd", maxLimit: 100 } })
 * const options = Effect.withConfigProvider(AdaptiveLimiter.config("search"), provider)
 * ```
 *
 * ```ts
 * // Effect 4
 * import { ConfigProvider, Effect } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * const provider = ConfigProvider.fromUnknown({ search: { algorithm: "aimd", maxLimit: 100 } })
 * const options = Effect.provideService(AdaptiveLimiter.config("search"), ConfigProvider.ConfigProvider, provider)
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
 * // Effect 3
 * import { Context } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * class SearchLimiter extends Context.Tag("SearchLimiter")<SearchLimiter, AdaptiveLimiter.AdaptiveLimiter>() {}
 *
 * const SearchLimiterLive = AdaptiveLimiter.layerConfig(SearchLimiter, AdaptiveLimiter.config("search"))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context } from "effect"
 * import { AdaptiveLimiter } from "breakwater"
 *
 * class SearchLimiter extends Context.Service<SearchLimiter, AdaptiveLimiter.AdaptiveLimiter>()("SearchLimiter") {}
 *
 * const SearchLimiterLive = AdaptiveLimiter.layerConfig(SearchLimiter, AdaptiveLimiter.config("search"))
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = <I>(
  tag: ServiceKey<I, AdaptiveLimiter>,
  options: Config.Config<Options>,
  code?: Changes
): Layer.Layer<I, InvalidConfigError | ConfigFailure> =>
  layerScoped(tag, Effect.flatMap(options, (read) => make({ ...read, ...code })))
