/**
 * A time limiter with Resilience4j's semantics: a call that has not finished within `timeoutDuration`
 * fails with `TimeoutExceededError`, and is either interrupted (`cancelRunningCall: true`, the
 * default) or left to finish in the background.
 *
 * ## When to use
 * Around calls whose latency you cannot bound otherwise (a dependency without its own timeout, a
 * query that can hang): the caller gets an answer, a typed error, in bounded time.
 *
 * ## Gotchas
 * - With `cancelRunningCall: true` the error is returned once the call has been interrupted, so its
 *   finalizers have run; an uninterruptible call therefore delays the error until it ends.
 * - The call runs interruptibly even where the caller is uninterruptible (an @effect/platform server
 *   handler is): a time limiter exists to cut calls short, so only the call's own uninterruptible
 *   parts can delay it.
 * - With `cancelRunningCall: false` the call keeps running, disconnected from the caller, until it
 *   ends or the limiter's `Scope` closes; its result is dropped. Interrupting the caller before the
 *   timeout still interrupts the call.
 * - With `cancelRunningCall: true` the call runs in the caller's own fiber (no fork per call; one timer
 *   per limiter interrupts only the calls that overrun), so fibers the call forks belong to the caller,
 *   as with any other guard. `cancelRunningCall: false` forks each call, since it must be able to
 *   outlive the caller's wait.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * const fetchQuote = Effect.succeed(42).pipe(Effect.delay("200 millis"))
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const limiter = yield* TimeLimiter.make({ name: "quotes", timeoutDuration: "1 second" })
 *     return yield* fetchQuote.pipe(TimeLimiter.withTimeLimiter(limiter))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import { type ConfigFailure, currentClock, decodeOptions, layerScoped, readFields, type ServiceKey } from "#port"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import { makeEventHub } from "../shared/internal/eventHub.js"
import type { Policy } from "../shared/Policy.js"
import { Deadlines } from "./internal/deadlines.js"
import type { Changes, Event, Options, TimeLimiter, TimeoutExceededError } from "./internal/timeLimiterApi.js"
import { configFields, OptionsSchema } from "./internal/timeLimiterConfig.js"
import { TimeLimiterImpl } from "./internal/timeLimiterImpl.js"
export { type Changes, Event, type Options, type TimeLimiter, TimeoutExceededError } from "./internal/timeLimiterApi.js"

/**
 * Creates a time limiter. Fails with `InvalidConfigError`, listing every bad field, before anything
 * starts. Calls left running after a timeout (`cancelRunningCall: false`) live in the surrounding
 * `Scope` and are interrupted when it closes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const limiter = yield* TimeLimiter.make({ name: "search", timeoutDuration: "500 millis" })
 *     return yield* Effect.succeed("hit").pipe(TimeLimiter.withTimeLimiter(limiter))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<TimeLimiter, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* decodeOptions(OptionsSchema, "TimeLimiter", options)
    const clock = yield* currentClock
    const scope = yield* Effect.scope
    const hub = yield* makeEventHub<Event>()
    const deadlines = yield* Deadlines.make
    return new TimeLimiterImpl(config.name, config, clock, scope, hub, deadlines)
  })

/**
 * Runs `self` with a time limit: if it has not finished within `timeoutDuration` the caller gets
 * `TimeoutExceededError`, and the call is interrupted (or, with `cancelRunningCall: false`, left to
 * finish in the background). Dual: `withTimeLimiter(self, limiter)` or
 * `self.pipe(withTimeLimiter(limiter))`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * declare const limiter: TimeLimiter.TimeLimiter
 * const guarded = Effect.succeed("ok").pipe(TimeLimiter.withTimeLimiter(limiter))
 * const same = TimeLimiter.withTimeLimiter(Effect.succeed("ok"), limiter)
 * ```
 *
 * @since 0.1.0
 */
export const withTimeLimiter: {
  (limiter: TimeLimiter): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TimeoutExceededError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: TimeLimiter): Effect.Effect<A, E | TimeoutExceededError, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, limiter: TimeLimiter) => (limiter as TimeLimiterImpl).guard(self)
)

/**
 * The time limiter as a {@link Policy}, for `Policy.compose`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * declare const limiter: TimeLimiter.TimeLimiter
 * const guard = TimeLimiter.policy(limiter)
 * const guarded = guard(Effect.succeed(1))
 * ```
 *
 * @since 0.1.0
 */
export const policy = (limiter: TimeLimiter): Policy<TimeoutExceededError> => (self) => withTimeLimiter(self, limiter)

/**
 * A Layer that builds the time limiter for a service tag; it lives as long as the layer.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { Context, Effect } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * class SearchTimeout extends Context.Tag("SearchTimeout")<SearchTimeout, TimeLimiter.TimeLimiter>() {}
 *
 * const SearchTimeoutLive = TimeLimiter.layer(SearchTimeout, { name: "search", timeoutDuration: "2 seconds" })
 * const program = Effect.flatMap(SearchTimeout, (limiter) => limiter.settings).pipe(Effect.provide(SearchTimeoutLive))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context, Effect } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * class SearchTimeout extends Context.Service<SearchTimeout, TimeLimiter.TimeLimiter>()("SearchTimeout") {}
 *
 * const SearchTimeoutLive = TimeLimiter.layer(SearchTimeout, { name: "search", timeoutDuration: "2 seconds" })
 * const program = Effect.flatMap(SearchTimeout, (limiter) => limiter.settings).pipe(Effect.provide(SearchTimeoutLive))
 * ```
 *
 * @since 0.1.0
 */
export const layer = <I>(tag: ServiceKey<I, TimeLimiter>, options: Options): Layer.Layer<I, InvalidConfigError> =>
  layerScoped(tag, make(options))

/**
 * The options read through `effect/Config` under the namespace `name`, e.g. the keys
 * `search.timeoutDuration` from JSON, or `SEARCH_TIMEOUT_DURATION` from the environment with
 * `ConfigProvider.fromEnv().pipe(ConfigProvider.constantCase)`. Absent keys take the defaults; the
 * values are checked by the same Schema as {@link make}'s.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { ConfigProvider, Effect } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({ search: { timeoutDuration: "2 seconds", cancelRunningCall: false } })
 * const options = Effect.withConfigProvider(TimeLimiter.config("search"), provider)
 * ```
 *
 * ```ts
 * // Effect 4
 * import { ConfigProvider, Effect } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * const provider = ConfigProvider.fromUnknown({ search: { timeoutDuration: "2 seconds", cancelRunningCall: false } })
 * const options = Effect.provideService(TimeLimiter.config("search"), ConfigProvider.ConfigProvider, provider)
 * ```
 *
 * @since 0.1.0
 */
export const config = (name: string): Config.Config<Options> =>
  Config.nested(readFields(configFields), name).pipe(Config.map((values) => ({ ...values, name }) as Options))

/**
 * Like {@link layer}, with the options read from `effect/Config` (see {@link config}); `code`
 * overrides what was read. Bad values fail with `InvalidConfigError` naming the field; unreadable ones
 * with `ConfigError`.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { Context } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * class SearchTimeout extends Context.Tag("SearchTimeout")<SearchTimeout, TimeLimiter.TimeLimiter>() {}
 *
 * const SearchTimeoutLive = TimeLimiter.layerConfig(SearchTimeout, TimeLimiter.config("search"))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context } from "effect"
 * import { TimeLimiter } from "breakwater"
 *
 * class SearchTimeout extends Context.Service<SearchTimeout, TimeLimiter.TimeLimiter>()("SearchTimeout") {}
 *
 * const SearchTimeoutLive = TimeLimiter.layerConfig(SearchTimeout, TimeLimiter.config("search"))
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = <I>(
  tag: ServiceKey<I, TimeLimiter>,
  options: Config.Config<Options>,
  code?: Changes
): Layer.Layer<I, InvalidConfigError | ConfigFailure> =>
  layerScoped(tag, Effect.flatMap(options, (read) => make({ ...read, ...code })))
