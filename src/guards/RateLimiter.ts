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
import {
  type ConfigFailure,
  currentClock,
  decodeOptions,
  type DurationInput,
  layerScoped,
  nowMillis,
  readFields,
  type ServiceKey,
  toDuration,
  type UserSchedule
} from "#port"
import * as Config from "effect/Config"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import { makeEventHub } from "../shared/internal/eventHub.js"
import type { Policy } from "../shared/Policy.js"
import type { LearnedQuota } from "../store/RateLimiterStore.js"
import { type OnStoreFailure, Store } from "../store/Store.js"
import { makeDistributed } from "./internal/distributedRateLimiter.js"
import { Event, type Options, type RateLimiter, RequestNotPermittedError } from "./internal/rateLimiterApi.js"
import { configFields, OptionsSchema } from "./internal/rateLimiterConfig.js"
export {
  Event,
  type KeyedOptions,
  type Metrics,
  type Options,
  type RateLimiter,
  RequestNotPermittedError
} from "./internal/rateLimiterApi.js"
export { type Keyed, keyed } from "./internal/rateLimiterKeyed.js"
import {
  awaitReservation,
  checkPermits,
  type Hold,
  RateLimiterImpl,
  type Resolved
} from "./internal/rateLimiterImpl.js"

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
    const clock = yield* currentClock
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
  readonly limitRefreshPeriod: Duration.Duration | UserSchedule<number>
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
      return last === undefined || last.resetAt <= nowMillis(clock) ? Option.none() : Option.some(last)
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
        ? (period as UserSchedule<number>)
        : toDuration(period as DurationInput),
      timeoutDuration: toDuration(c.timeoutDuration),
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
            if (Number.isNaN(earliest)) return Effect.andThen(limiter.extend, attempt)
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
 * A Layer that builds the limiter for a service tag; the limiter lives as long as the layer.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { Context, Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * class PartnerLimiter extends Context.Tag("PartnerLimiter")<PartnerLimiter, RateLimiter.RateLimiter>() {}
 *
 * const PartnerLimiterLive = RateLimiter.layer(PartnerLimiter, { name: "partner", limitForPeriod: 100 })
 * const program = Effect.flatMap(PartnerLimiter, (limiter) => limiter.metrics).pipe(Effect.provide(PartnerLimiterLive))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context, Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * class PartnerLimiter extends Context.Service<PartnerLimiter, RateLimiter.RateLimiter>()("PartnerLimiter") {}
 *
 * const PartnerLimiterLive = RateLimiter.layer(PartnerLimiter, { name: "partner", limitForPeriod: 100 })
 * const program = Effect.flatMap(PartnerLimiter, (limiter) => limiter.metrics).pipe(Effect.provide(PartnerLimiterLive))
 * ```
 *
 * @since 0.1.0
 */
export const layer = <I>(
  tag: ServiceKey<I, RateLimiter>,
  options: Options
): Layer.Layer<I, InvalidConfigError> => layerScoped(tag, make(options))

/**
 * The plain (non-`Schedule`) options read through `effect/Config` under the namespace `name`, e.g.
 * `partner.limitForPeriod` from JSON or `PARTNER_LIMIT_FOR_PERIOD` from the environment with
 * `ConfigProvider.fromEnv().pipe(ConfigProvider.constantCase)`. Absent keys take the defaults; the
 * values are checked by the same Schema as {@link make}'s.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { ConfigProvider, Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({ partner: { limitForPeriod: 100, limitRefreshPeriod: "1 second" } })
 * const options = Effect.withConfigProvider(RateLimiter.config("partner"), provider)
 * ```
 *
 * ```ts
 * // Effect 4
 * import { ConfigProvider, Effect } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * const provider = ConfigProvider.fromUnknown({ partner: { limitForPeriod: 100, limitRefreshPeriod: "1 second" } })
 * const options = Effect.provideService(RateLimiter.config("partner"), ConfigProvider.ConfigProvider, provider)
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
 * // Effect 3
 * import { Context } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * class PartnerLimiter extends Context.Tag("PartnerLimiter")<PartnerLimiter, RateLimiter.RateLimiter>() {}
 *
 * const PartnerLimiterLive = RateLimiter.layerConfig(PartnerLimiter, RateLimiter.config("partner"))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context } from "effect"
 * import { RateLimiter } from "breakwater"
 *
 * class PartnerLimiter extends Context.Service<PartnerLimiter, RateLimiter.RateLimiter>()("PartnerLimiter") {}
 *
 * const PartnerLimiterLive = RateLimiter.layerConfig(PartnerLimiter, RateLimiter.config("partner"))
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = <I>(
  tag: ServiceKey<I, RateLimiter>,
  options: Config.Config<Options>,
  code?: Omit<Options, "name">
): Layer.Layer<I, InvalidConfigError | ConfigFailure> =>
  layerScoped(tag, Effect.flatMap(options, (read) => make({ ...read, ...code } as Options)))
