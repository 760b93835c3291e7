/**
 * One rate limiter per key, in a bounded table that forgets the keys idle long enough to have no past
 * left (`RateLimiter.keyed`).
 *
 * @internal
 */
import { currentClock, decodeOptions, nowMillis } from "#port"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { KeyTable, type Slot } from "../../core/keyTable.js"
import { type LimiterCore, periodicCore } from "../../core/rateLimiterCore.js"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import { withoutStackTrace } from "../../shared/internal/errors.js"
import { makeEventHub } from "../../shared/internal/eventHub.js"
import { Store } from "../../store/Store.js"
import { makeDistributed } from "./distributedRateLimiter.js"
import { Event, type KeyedOptions, type Options, type RateLimiter, RequestNotPermittedError } from "./rateLimiterApi.js"
import { KeyedOptionsSchema } from "./rateLimiterConfig.js"
import { periodMillis, RateLimiterImpl, type Resolved } from "./rateLimiterImpl.js"

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
    const clock = yield* currentClock
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
        return Effect.andThen(
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
