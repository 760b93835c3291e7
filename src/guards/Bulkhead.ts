/**
 * A bulkhead with Resilience4j's semantics: at most `maxConcurrentCalls` calls run at once; a call
 * that finds every slot taken waits its turn, in arrival order, for at most `maxWaitDuration`, then is
 * refused with `BulkheadFullError`.
 *
 * ## When to use
 * Around calls that hold a scarce resource (connections to a database, a dependency that degrades
 * under concurrency, CPU-heavy work): it bounds how much of the process one dependency can tie up, so
 * a slow dependency exhausts its own compartment instead of every fiber in the service.
 *
 * ## Gotchas
 * - The default `maxWaitDuration` is 0: a call that finds no free slot is refused at once. Give it a
 *   wait to queue callers instead (fairly: first come, first served, and nobody barges past waiters).
 * - A slot is held from admission until the call's exit, whatever it is (success, failure, defect or
 *   interruption); a caller interrupted while waiting leaves the queue without taking a slot.
 * - Lowering `maxConcurrentCalls` with `reconfigure` never interrupts running calls: new calls wait (or
 *   are refused) until the running ones drop below the new limit.
 * - The bulkhead counts calls in this process only.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * const query = (sql: string) => Effect.succeed([sql])
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 10, maxWaitDuration: "100 millis" })
 *     return yield* query("select 1").pipe(Bulkhead.withBulkhead(bulkhead))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import { type ConfigFailure, currentClock, decodeOptions, layerScoped, readFields, type ServiceKey } from "#port"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { InvalidConfigError } from "../errors/InvalidConfigError.js"
import { makeEventHub } from "../shared/internal/eventHub.js"
import type { Policy } from "../shared/Policy.js"
import { type Bulkhead, BulkheadFullError, type Changes, Event, type Options } from "./internal/bulkheadApi.js"
import { configFields, OptionsSchema } from "./internal/bulkheadConfig.js"
import { acquire as acquireManually } from "./internal/manualPermission.js"
export {
  type Bulkhead,
  BulkheadFullError,
  type Changes,
  Event,
  type Metrics,
  type Options
} from "./internal/bulkheadApi.js"
import { BulkheadImpl } from "./internal/bulkheadImpl.js"

/**
 * Creates a bulkhead with every slot free. Fails with `InvalidConfigError`, listing every bad field,
 * before anything starts. Its event hub lives in the surrounding `Scope`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const bulkhead = yield* Bulkhead.make({ name: "db", maxConcurrentCalls: 10 })
 *     return yield* bulkhead.metrics // { availableConcurrentCalls: 10, maxAllowedConcurrentCalls: 10 }
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<Bulkhead, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* decodeOptions(OptionsSchema, "Bulkhead", options)
    const clock = yield* currentClock
    const hub = yield* makeEventHub<Event>()
    return new BulkheadImpl(config.name, config, clock, hub)
  })

/**
 * Runs `self` in a slot of the bulkhead: at once when one is free and nobody is waiting; otherwise
 * after waiting its turn (at most `maxWaitDuration`), or not at all, failing with
 * `BulkheadFullError`. The slot is given back on every exit. Dual: `withBulkhead(self, bulkhead)` or
 * `self.pipe(withBulkhead(bulkhead))`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * declare const bulkhead: Bulkhead.Bulkhead
 * const guarded = Effect.succeed("ok").pipe(Bulkhead.withBulkhead(bulkhead))
 * const same = Bulkhead.withBulkhead(Effect.succeed("ok"), bulkhead)
 * ```
 *
 * @since 0.1.0
 */
export const withBulkhead: {
  (bulkhead: Bulkhead): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BulkheadFullError, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, bulkhead: Bulkhead): Effect.Effect<A, E | BulkheadFullError, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, bulkhead: Bulkhead) => (bulkhead as BulkheadImpl).guard(self)
)

/**
 * A bulkhead's current configuration (Resilience4j's `getBulkheadConfig()`).
 *
 * @example
 * ```ts
 * import type { Bulkhead } from "breakwater"
 *
 * const describe = (config: Bulkhead.Configuration) => `${config.maxConcurrentCalls} at once`
 * ```
 *
 * @since 0.1.0
 */
export interface Configuration {
  readonly name: string
  readonly maxConcurrentCalls: number
  readonly maxWaitDuration: Duration.Duration
}

/**
 * Reads a bulkhead's current configuration back (it changes with `reconfigure` and `Registry.reload`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * declare const bulkhead: Bulkhead.Bulkhead
 * const slots = Effect.map(Bulkhead.configuration(bulkhead), (config) => config.maxConcurrentCalls)
 * ```
 *
 * @since 0.1.0
 */
export const configuration = (bulkhead: Bulkhead): Effect.Effect<Configuration> =>
  Effect.map(bulkhead.metrics, (metrics) => ({
    name: bulkhead.name,
    maxConcurrentCalls: metrics.maxAllowedConcurrentCalls,
    maxWaitDuration: Duration.millis((bulkhead as unknown as { readonly maxWaitMillis: number }).maxWaitMillis)
  }))

/**
 * A slot taken for a call made outside an effect (a callback, a stream element), from
 * {@link acquirePermission}: give it back once with `onComplete` (Resilience4j's `onComplete` /
 * `releasePermission`). It returns `true` when it gave the slot back and `false` when it had already
 * been given back (and then does nothing), so a slot cannot be returned twice. Events and metrics are
 * a guarded call's; a slot never given back stays taken.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * declare const bulkhead: Bulkhead.Bulkhead
 * declare const startUpload: (done: () => void) => void
 *
 * const upload = Effect.gen(function*() {
 *   const permission = yield* Bulkhead.acquirePermission(bulkhead)
 *   yield* Effect.promise(() => new Promise<void>((done) => startUpload(done)))
 *   yield* permission.onComplete
 * })
 * ```
 *
 * @since 0.1.0
 */
export interface Permission {
  readonly bulkheadName: string
  readonly onComplete: Effect.Effect<boolean>
  readonly settled: Effect.Effect<boolean>
}

/**
 * Takes a slot for a call made outside an effect, waiting for one up to `maxWaitDuration` as a guarded
 * call would; refused with `BulkheadFullError` (Resilience4j's `acquirePermission`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * declare const bulkhead: Bulkhead.Bulkhead
 * const oneCall = Effect.flatMap(Bulkhead.acquirePermission(bulkhead), (permission) => permission.onComplete)
 * ```
 *
 * @since 0.1.0
 */
export const acquirePermission = (bulkhead: Bulkhead): Effect.Effect<Permission, BulkheadFullError> =>
  Effect.map(
    acquireManually<void, never, BulkheadFullError>((call) => withBulkhead(call, bulkhead)),
    (settlement): Permission => ({
      bulkheadName: bulkhead.name,
      onComplete: settlement.succeed(undefined),
      settled: settlement.settled
    })
  )

/**
 * Like {@link acquirePermission}, with a refusal as `None` (Resilience4j's `tryAcquirePermission`).
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * declare const bulkhead: Bulkhead.Bulkhead
 * const admitted = Effect.map(Bulkhead.tryAcquirePermission(bulkhead), Option.isSome)
 * ```
 *
 * @since 0.1.0
 */
export const tryAcquirePermission = (bulkhead: Bulkhead): Effect.Effect<Option.Option<Permission>> =>
  acquirePermission(bulkhead).pipe(
    Effect.map(Option.some),
    Effect.catchTag("BulkheadFullError", () => Effect.succeed(Option.none()))
  )

/**
 * The bulkhead as a {@link Policy}, for `Policy.compose`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * declare const bulkhead: Bulkhead.Bulkhead
 * const guard = Bulkhead.policy(bulkhead)
 * const guarded = guard(Effect.succeed(1))
 * ```
 *
 * @since 0.1.0
 */
export const policy = (bulkhead: Bulkhead): Policy<BulkheadFullError> => (self) => withBulkhead(self, bulkhead)

/**
 * A Layer that builds the bulkhead for a service tag; the bulkhead lives as long as the layer.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { Context, Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * class DbBulkhead extends Context.Tag("DbBulkhead")<DbBulkhead, Bulkhead.Bulkhead>() {}
 *
 * const DbBulkheadLive = Bulkhead.layer(DbBulkhead, { name: "db", maxConcurrentCalls: 10 })
 * const program = Effect.flatMap(DbBulkhead, (bulkhead) => bulkhead.metrics).pipe(Effect.provide(DbBulkheadLive))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context, Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * class DbBulkhead extends Context.Service<DbBulkhead, Bulkhead.Bulkhead>()("DbBulkhead") {}
 *
 * const DbBulkheadLive = Bulkhead.layer(DbBulkhead, { name: "db", maxConcurrentCalls: 10 })
 * const program = Effect.flatMap(DbBulkhead, (bulkhead) => bulkhead.metrics).pipe(Effect.provide(DbBulkheadLive))
 * ```
 *
 * @since 0.1.0
 */
export const layer = <I>(tag: ServiceKey<I, Bulkhead>, options: Options): Layer.Layer<I, InvalidConfigError> =>
  layerScoped(tag, make(options))

/**
 * The options read through `effect/Config` under the namespace `name`, e.g. the keys
 * `db.maxConcurrentCalls` from JSON, or `DB_MAX_CONCURRENT_CALLS` from the environment with
 * `ConfigProvider.fromEnv().pipe(ConfigProvider.constantCase)`. Absent keys take the defaults; the
 * values are checked by the same Schema as {@link make}'s.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { ConfigProvider, Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({ db: { maxConcurrentCalls: 10, maxWaitDuration: "100 millis" } })
 * const options = Effect.withConfigProvider(Bulkhead.config("db"), provider)
 * ```
 *
 * ```ts
 * // Effect 4
 * import { ConfigProvider, Effect } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * const provider = ConfigProvider.fromUnknown({ db: { maxConcurrentCalls: 10, maxWaitDuration: "100 millis" } })
 * const options = Effect.provideService(Bulkhead.config("db"), ConfigProvider.ConfigProvider, provider)
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
 * import { Bulkhead } from "breakwater"
 *
 * class DbBulkhead extends Context.Tag("DbBulkhead")<DbBulkhead, Bulkhead.Bulkhead>() {}
 *
 * const DbBulkheadLive = Bulkhead.layerConfig(DbBulkhead, Bulkhead.config("db"))
 * ```
 *
 * ```ts
 * // Effect 4
 * import { Context } from "effect"
 * import { Bulkhead } from "breakwater"
 *
 * class DbBulkhead extends Context.Service<DbBulkhead, Bulkhead.Bulkhead>()("DbBulkhead") {}
 *
 * const DbBulkheadLive = Bulkhead.layerConfig(DbBulkhead, Bulkhead.config("db"))
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = <I>(
  tag: ServiceKey<I, Bulkhead>,
  options: Config.Config<Options>,
  code?: Changes
): Layer.Layer<I, InvalidConfigError | ConfigFailure> =>
  layerScoped(tag, Effect.flatMap(options, (read) => make({ ...read, ...code })))
