/**
 * Named guards built from named configurations, after Resilience4j's registries
 * (`configs.default`, `configs.<name>`, `instances.<name>.baseConfig`): one place that creates every
 * guard of a service, lists them for monitoring, and reconfigures them at runtime without replacing
 * them.
 *
 * ## When to use
 * In an application with more than a couple of guards, or whose guard settings live in configuration
 * (environment, JSON) and must change without a restart.
 *
 * ## Gotchas
 * - A guard's options resolve as Resilience4j's do: the guard's defaults, then ONE of the instance's
 *   `baseConfig` (when given), the configuration named like the instance, or `configs.default`; then
 *   the instance's own keys, then the options given in code (predicates, schedules), then `name`. A
 *   configuration may name its own `baseConfig` (chains are followed); it inherits nothing else, so a
 *   configuration that should build on `configs.default` says `baseConfig: "default"`.
 * - `make` (and `reload`) check the whole specification first: an unknown `baseConfig`, a circular
 *   one (an instance naming its own name, or configurations naming each other) and any value a guard's
 *   Schema refuses, in any configuration or instance, fail with one `InvalidConfigError` listing every
 *   field. Options given in code are checked when the guard is created.
 * - `reload` keeps every live guard and its state where the change allows (see each guard's
 *   `reconfigure`); a guard whose new options are invalid keeps its old ones, and `reload` fails with
 *   the `InvalidConfigError`s of every such guard.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Registry } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const registry = yield* Registry.make({
 *       circuitBreaker: {
 *         configs: { default: { failureRateThreshold: 50 }, critical: { failureRateThreshold: 20 } },
 *         instances: { payments: { baseConfig: "critical", waitDurationInOpenState: "10 seconds" } }
 *       }
 *     })
 *     const payments = yield* registry.circuitBreaker("payments")
 *     return (yield* registry.guards).map((guard) => `${guard.kind}/${guard.name}`) // ["CircuitBreaker/payments"]
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import {
  type ConfigFailure,
  configRecord,
  decodeOptions,
  layerScoped,
  makeSemaphoreNow,
  publishNow,
  readFields,
  scopeProvide,
  serviceKey,
  stringConfig,
  subscriptionStream,
  unwrapScoped
} from "#port"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { InvalidConfigError } from "../errors/InvalidConfigError.js"
import type * as AdaptiveLimiter from "../guards/AdaptiveLimiter.js"
import type * as AdaptiveThrottler from "../guards/AdaptiveThrottler.js"
import type * as Bulkhead from "../guards/Bulkhead.js"
import type * as CircuitBreaker from "../guards/CircuitBreaker.js"
import type * as Hedge from "../guards/Hedge.js"
import type { Guard } from "../guards/internal/anyGuard.js"
import type * as RateLimiter from "../guards/RateLimiter.js"
import type * as Retry from "../guards/Retry.js"
import type * as TimeLimiter from "../guards/TimeLimiter.js"
import {
  type Kind,
  type KindDescriptor,
  kinds,
  merge,
  resolve,
  type Spec,
  validateSpec
} from "./internal/registrySpec.js"

export type { Guard } from "../guards/internal/anyGuard.js"
export type { Kind, KindSpec, Spec } from "./internal/registrySpec.js"

/** What `reload` needs of every guard. */
interface Reconfigurable {
  readonly name: string
  reconfigure(changes: object): Effect.Effect<void, InvalidConfigError>
}

/**
 * A running registry. See the module documentation.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { Registry } from "breakwater"
 *
 * const tighten = (registry: Registry.Registry) =>
 *   registry.reload({ circuitBreaker: { configs: { default: { failureRateThreshold: 25 } } } })
 * ```
 *
 * @since 0.1.0
 */
export interface Registry {
  /** The breaker named `name`, created on first use; `code` adds what configuration cannot carry. */
  readonly circuitBreaker: <E = unknown, A = unknown>(
    name: string,
    code?: Omit<CircuitBreaker.Options<E, A>, "name">
  ) => Effect.Effect<CircuitBreaker.CircuitBreaker<E, A>, InvalidConfigError>
  /** The rate limiter named `name`, created on first use. */
  readonly rateLimiter: (
    name: string,
    code?: Omit<RateLimiter.Options, "name">
  ) => Effect.Effect<RateLimiter.RateLimiter, InvalidConfigError>
  /** The bulkhead named `name`, created on first use. */
  readonly bulkhead: (
    name: string,
    code?: Omit<Bulkhead.Options, "name">
  ) => Effect.Effect<Bulkhead.Bulkhead, InvalidConfigError>
  /** The time limiter named `name`, created on first use. */
  readonly timeLimiter: (
    name: string,
    code?: Omit<TimeLimiter.Options, "name">
  ) => Effect.Effect<TimeLimiter.TimeLimiter, InvalidConfigError>
  /** The retry named `name`, created on first use; `code` adds predicates, a schedule, a budget. */
  readonly retry: <E = unknown, A = unknown>(
    name: string,
    code?: Omit<Retry.Options<E, A>, "name">
  ) => Effect.Effect<Retry.Retry<E, A>, InvalidConfigError>
  /** The adaptive concurrency limiter named `name`, created on first use; `code` adds `isDrop`. */
  readonly adaptiveLimiter: (
    name: string,
    code?: Omit<AdaptiveLimiter.Options, "name">
  ) => Effect.Effect<AdaptiveLimiter.AdaptiveLimiter, InvalidConfigError>
  /** The adaptive throttler named `name`, created on first use; `code` adds `isRejection`. */
  readonly adaptiveThrottler: (
    name: string,
    code?: Omit<AdaptiveThrottler.Options, "name">
  ) => Effect.Effect<AdaptiveThrottler.AdaptiveThrottler, InvalidConfigError>
  /** The hedge named `name`, created on first use; `code` adds a shared `budget`. */
  readonly hedge: (
    name: string,
    code?: Omit<Hedge.Options, "name">
  ) => Effect.Effect<Hedge.Hedge, InvalidConfigError>
  /** Every live guard, in creation order. */
  readonly guards: Effect.Effect<ReadonlyArray<Guard>>
  /** Every live guard, then each guard created afterwards (for monitoring); ends with the registry. */
  readonly watchGuards: Stream.Stream<Guard>
  /** The current configuration. */
  readonly spec: Effect.Effect<Spec>
  /** Takes a new configuration and reconfigures every live guard in place. */
  readonly reload: (spec: Spec) => Effect.Effect<void, InvalidConfigError>
  /** Reads a new configuration (see {@link config}) and reloads it. */
  readonly reloadFrom: (
    config: Config.Config<Spec>
  ) => Effect.Effect<void, InvalidConfigError | ConfigFailure>
}

interface Entry {
  readonly kind: Kind
  readonly guard: Guard
  readonly code: object
  /** The configured keys last applied, so a key that disappears from the configuration is reset. */
  configured: ReadonlyArray<string>
}

class RegistryImpl implements Registry {
  private readonly entries = new Map<string, Entry>()
  private readonly lock = makeSemaphoreNow(1)

  constructor(
    private current: Spec,
    private readonly scope: Scope.Scope,
    private readonly created: PubSub.PubSub<Guard>
  ) {}

  private get(kind: Kind, name: string, code: object): Effect.Effect<Guard, InvalidConfigError> {
    const key = `${kind}/${name}`
    return Effect.suspend(() => {
      const existing = this.entries.get(key)
      if (existing !== undefined) return Effect.succeed(existing.guard)
      return this.lock.withPermits(1)(Effect.suspend(() => {
        const raced = this.entries.get(key)
        if (raced !== undefined) return Effect.succeed(raced.guard)
        const resolved = resolve(this.current, kind, name)
        if (resolved.error !== undefined) return Effect.fail(resolved.error)
        return scopeProvide(kinds[kind].make({ ...resolved.value, ...code, name }), this.scope).pipe(
          Effect.tap((guard) =>
            Effect.sync(() => {
              this.entries.set(key, { kind, guard, code, configured: Object.keys(resolved.value) })
              publishNow(this.created, guard)
            })
          )
        )
      }))
    })
  }

  readonly circuitBreaker = <E = unknown, A = unknown>(
    name: string,
    code: Omit<CircuitBreaker.Options<E, A>, "name"> = {}
  ) => this.get("circuitBreaker", name, code) as Effect.Effect<CircuitBreaker.CircuitBreaker<E, A>, InvalidConfigError>

  readonly rateLimiter = (name: string, code: Omit<RateLimiter.Options, "name"> = {}) =>
    this.get("rateLimiter", name, code) as Effect.Effect<RateLimiter.RateLimiter, InvalidConfigError>

  readonly bulkhead = (name: string, code: Omit<Bulkhead.Options, "name"> = {}) =>
    this.get("bulkhead", name, code) as Effect.Effect<Bulkhead.Bulkhead, InvalidConfigError>

  readonly timeLimiter = (name: string, code: Omit<TimeLimiter.Options, "name"> = {}) =>
    this.get("timeLimiter", name, code) as Effect.Effect<TimeLimiter.TimeLimiter, InvalidConfigError>

  readonly retry = <E = unknown, A = unknown>(name: string, code: Omit<Retry.Options<E, A>, "name"> = {}) =>
    this.get("retry", name, code) as Effect.Effect<Retry.Retry<E, A>, InvalidConfigError>

  readonly adaptiveLimiter = (name: string, code: Omit<AdaptiveLimiter.Options, "name"> = {}) =>
    this.get("adaptiveLimiter", name, code) as Effect.Effect<AdaptiveLimiter.AdaptiveLimiter, InvalidConfigError>

  readonly adaptiveThrottler = (name: string, code: Omit<AdaptiveThrottler.Options, "name"> = {}) =>
    this.get("adaptiveThrottler", name, code) as Effect.Effect<AdaptiveThrottler.AdaptiveThrottler, InvalidConfigError>

  readonly hedge = (name: string, code: Omit<Hedge.Options, "name"> = {}) =>
    this.get("hedge", name, code) as Effect.Effect<Hedge.Hedge, InvalidConfigError>

  readonly guards: Effect.Effect<ReadonlyArray<Guard>> = Effect.sync(() =>
    Array.from(this.entries.values(), (entry) => entry.guard)
  )

  get watchGuards(): Stream.Stream<Guard> {
    // Subscribe first, then list, so no guard falls between the two; one seen twice is dropped.
    return unwrapScoped(Effect.map(PubSub.subscribe(this.created), (subscription) => {
      const seen = new Set<Guard>()
      return Stream.concat(
        Stream.suspend(() => Stream.fromIterable(Array.from(this.entries.values(), (entry) => entry.guard))),
        subscriptionStream(subscription)
      ).pipe(Stream.filter((guard) => seen.has(guard) ? false : (seen.add(guard), true)))
    }))
  }

  readonly spec: Effect.Effect<Spec> = Effect.sync(() => this.current)

  readonly reload = (spec: Spec): Effect.Effect<void, InvalidConfigError> =>
    this.lock.withPermits(1)(Effect.andThen(
      validateSpec(spec),
      Effect.suspend(() => {
        // All or nothing: every guard's new options are checked before any guard changes, and a rejected
        // configuration is not kept (guards created later still use the last good one).
        const plans: Array<{ readonly entry: Entry; readonly options: object; readonly configured: Array<string> }> = []
        const failures: Array<InvalidConfigError> = []
        return Effect.forEach(this.entries.values(), (entry) => {
          const resolved = resolve(spec, entry.kind, entry.guard.name)
          if (resolved.error !== undefined) return Effect.sync(() => failures.push(resolved.error))
          // Keys no longer configured go back to their defaults (undefined), unless code sets them.
          const removed = Object.fromEntries(
            entry.configured.filter((k) => !(k in resolved.value)).map((k) => [k, undefined])
          )
          const options = { ...removed, ...resolved.value, ...entry.code }
          const descriptor = kinds[entry.kind]
          return decodeOptions(descriptor.schema, descriptor.guard, { ...options, name: entry.guard.name }).pipe(
            Effect.match({
              onFailure: (error) => failures.push(error),
              onSuccess: () => plans.push({ entry, options, configured: Object.keys(resolved.value) })
            })
          )
        }, { discard: true }).pipe(
          Effect.andThen(Effect.suspend(() => {
            if (failures.length > 0) return Effect.fail(merge(failures))
            this.current = spec
            return Effect.forEach(
              plans,
              ({ configured, entry, options }) =>
                (entry.guard as Reconfigurable).reconfigure(options).pipe(
                  Effect.tap(() => Effect.sync(() => entry.configured = configured))
                ),
              { discard: true }
            )
          }))
        )
      })
    ))

  readonly reloadFrom = (config: Config.Config<Spec>) => Effect.flatMap(config, this.reload)
}

/**
 * Creates a registry; its guards live in the surrounding `Scope`. Instances are created on first use.
 * The whole specification is checked first: an unknown or circular `baseConfig`, or a value a guard
 * refuses in any configuration or instance, fails with one `InvalidConfigError` naming every field
 * (e.g. `circuitBreaker.configs.shared.baseConfig`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Registry } from "breakwater"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const registry = yield* Registry.make({ circuitBreaker: { configs: { default: { minimumNumberOfCalls: 10 } } } })
 *     const breaker = yield* registry.circuitBreaker("search")
 *     return yield* breaker.state
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make: {
  (): Effect.Effect<Registry, never, Scope.Scope>
  (spec: Spec): Effect.Effect<Registry, InvalidConfigError, Scope.Scope>
} = ((spec: Spec = {}): Effect.Effect<Registry, InvalidConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    // An empty specification has nothing to check: `make()` cannot fail (its type says so).
    yield* validateSpec(spec)
    const scope = yield* Effect.scope
    const created = yield* Effect.acquireRelease(PubSub.unbounded<Guard>(), PubSub.shutdown)
    return new RegistryImpl(spec, scope, created)
  })) as {
    (): Effect.Effect<Registry, never, Scope.Scope>
    (spec: Spec): Effect.Effect<Registry, InvalidConfigError, Scope.Scope>
  }

/**
 * The registry as a service.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Registry } from "breakwater"
 *
 * const listGuards = Effect.flatMap(Registry.Registry, (registry) => registry.guards)
 * ```
 *
 * @since 0.1.0
 */
export const Registry = serviceKey<Registry>("breakwater/Registry")

/**
 * A Layer providing {@link Registry} built from `spec`.
 *
 * @example
 * ```ts
 * import { Registry } from "breakwater"
 *
 * const RegistryLive = Registry.layer({ circuitBreaker: { configs: { default: { failureRateThreshold: 40 } } } })
 * ```
 *
 * @since 0.1.0
 */
export const layer: {
  (): Layer.Layer<Registry>
  (spec: Spec): Layer.Layer<Registry, InvalidConfigError>
} = ((spec: Spec = {}) => layerScoped(Registry, make(spec))) as {
  (): Layer.Layer<Registry>
  (spec: Spec): Layer.Layer<Registry, InvalidConfigError>
}

const kindConfig = (descriptor: KindDescriptor) => {
  const fields = readFields(descriptor.fields)
  const instanceFields = Config.all([fields, Config.option(stringConfig("baseConfig"))]).pipe(
    Config.map(([values, baseConfig]) =>
      Option.isSome(baseConfig) ? { ...values, baseConfig: baseConfig.value } : values
    )
  )
  return Config.all({
    configs: configRecord(instanceFields, "configs"),
    instances: configRecord(instanceFields, "instances")
  })
}

/**
 * Reads a {@link Spec} through `effect/Config`: keys such as
 * `circuitBreaker.configs.default.failureRateThreshold` and
 * `circuitBreaker.instances.payments.baseConfig`, under the optional namespace `root`. Values are
 * checked when guards are created or reloaded, by each guard's Schema.
 *
 * @example
 * ```ts
 * // Effect 3
 * import { ConfigProvider, Effect } from "effect"
 * import { Registry } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({
 *   resilience: { circuitBreaker: { configs: { default: { failureRateThreshold: 30 } } } }
 * })
 * const spec = Effect.withConfigProvider(Registry.config("resilience"), provider)
 * ```
 *
 * ```ts
 * // Effect 4
 * import { ConfigProvider, Effect } from "effect"
 * import { Registry } from "breakwater"
 *
 * const provider = ConfigProvider.fromUnknown({
 *   resilience: { circuitBreaker: { configs: { default: { failureRateThreshold: 30 } } } }
 * })
 * const spec = Effect.provideService(Registry.config("resilience"), ConfigProvider.ConfigProvider, provider)
 * ```
 *
 * @since 0.1.0
 */
export const config = (root?: string): Config.Config<Spec> => {
  const spec = Config.all(
    Object.fromEntries(
      Object.entries(kinds).map(([kind, descriptor]) => [kind, Config.nested(kindConfig(descriptor), kind)])
    )
  ) as Config.Config<Spec>
  return root === undefined ? spec : Config.nested(spec, root)
}

/**
 * Like {@link layer}, with the configuration read through `effect/Config` (see {@link config}).
 *
 * @example
 * ```ts
 * import { Registry } from "breakwater"
 *
 * const RegistryLive = Registry.layerConfig(Registry.config("resilience"))
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Config<Spec>
): Layer.Layer<Registry, ConfigFailure | InvalidConfigError> => layerScoped(Registry, Effect.flatMap(config, make))
