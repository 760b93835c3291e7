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
 * - A guard's options resolve as: `configs.default`, then the instance's `baseConfig` (when given),
 *   then the instance's own keys, then the options given in code (predicates, schedules), then `name`.
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
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as AdaptiveLimiter from "./AdaptiveLimiter.js"
import { make as makeAdaptiveLimiter } from "./AdaptiveLimiter.js"
import type * as AdaptiveThrottler from "./AdaptiveThrottler.js"
import { make as makeAdaptiveThrottler } from "./AdaptiveThrottler.js"
import type * as Bulkhead from "./Bulkhead.js"
import { make as makeBulkhead } from "./Bulkhead.js"
import type * as CircuitBreaker from "./CircuitBreaker.js"
import { make as makeCircuitBreaker } from "./CircuitBreaker.js"
import type * as Hedge from "./Hedge.js"
import { make as makeHedge } from "./Hedge.js"
import {
  hedgeConfigFields,
  HedgeOptionsSchema,
  limiterConfigFields,
  LimiterOptionsSchema,
  throttlerConfigFields,
  ThrottlerOptionsSchema
} from "./internal/adaptiveConfig.js"
import { configFields as bulkheadFields, OptionsSchema as BulkheadSchema } from "./internal/bulkheadConfig.js"
import {
  configFields as circuitBreakerFields,
  OptionsSchema as CircuitBreakerSchema
} from "./internal/circuitBreakerConfig.js"
import { retryFields } from "./internal/guardInternals.js"
import { configFields as rateLimiterFields, OptionsSchema as RateLimiterSchema } from "./internal/rateLimiterConfig.js"
import { retryConfigFields, RetryOptionsSchema } from "./internal/retryConfig.js"
import { configFields as timeLimiterFields, OptionsSchema as TimeLimiterSchema } from "./internal/timeLimiterConfig.js"
import { decodeOptions, invalidConfig, readFields } from "./internal/validation.js"
import { InvalidConfigError } from "./InvalidConfigError.js"
import type * as RateLimiter from "./RateLimiter.js"
import { make as makeRateLimiter } from "./RateLimiter.js"
import type * as Retry from "./Retry.js"
import { make as makeRetry } from "./Retry.js"
import type * as TimeLimiter from "./TimeLimiter.js"
import { make as makeTimeLimiter } from "./TimeLimiter.js"

/**
 * One kind's named configurations and instances. `configs.default` applies to every instance.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker, Registry } from "breakwater"
 *
 * const breakers: Registry.KindSpec<CircuitBreaker.Options> = {
 *   configs: { default: { slidingWindowSize: 50 } },
 *   instances: { inventory: { minimumNumberOfCalls: 10 } }
 * }
 * ```
 *
 * @since 0.1.0
 */
export interface KindSpec<O extends { readonly name: string }> {
  readonly configs?: Readonly<Record<string, Partial<Omit<O, "name">>>>
  readonly instances?: Readonly<Record<string, Partial<Omit<O, "name">> & { readonly baseConfig?: string }>>
}

/**
 * The registry's configuration: one {@link KindSpec} per kind of guard.
 *
 * @example
 * ```ts
 * import type { Registry } from "breakwater"
 *
 * const spec: Registry.Spec = { circuitBreaker: { configs: { default: { failureRateThreshold: 30 } } } }
 * ```
 *
 * @since 0.1.0
 */
export interface Spec {
  readonly circuitBreaker?: KindSpec<CircuitBreaker.Options<any, any>>
  readonly rateLimiter?: KindSpec<RateLimiter.Options>
  readonly bulkhead?: KindSpec<Bulkhead.Options>
  readonly timeLimiter?: KindSpec<TimeLimiter.Options>
  readonly retry?: KindSpec<Retry.Options<any, any>>
  readonly adaptiveLimiter?: KindSpec<AdaptiveLimiter.Options>
  readonly adaptiveThrottler?: KindSpec<AdaptiveThrottler.Options>
  readonly hedge?: KindSpec<Hedge.Options>
}

/**
 * Any guard a registry holds; `kind` tells which.
 *
 * @example
 * ```ts
 * import type { Registry } from "breakwater"
 *
 * const label = (guard: Registry.Guard) => `${guard.kind} ${guard.name}`
 * ```
 *
 * @since 0.1.0
 */
export type Guard =
  | CircuitBreaker.CircuitBreaker<any, any>
  | RateLimiter.RateLimiter
  | Bulkhead.Bulkhead
  | TimeLimiter.TimeLimiter
  | Retry.Retry<any, any>
  | AdaptiveLimiter.AdaptiveLimiter
  | AdaptiveThrottler.AdaptiveThrottler
  | Hedge.Hedge

/**
 * The registry's kinds of guard, by their key in {@link Spec}.
 *
 * @example
 * ```ts
 * import type { Registry } from "breakwater"
 *
 * const kind: Registry.Kind = "circuitBreaker"
 * ```
 *
 * @since 0.1.0
 */
export type Kind = keyof Spec

interface KindDescriptor {
  readonly guard: string
  readonly make: (options: any) => Effect.Effect<Guard, InvalidConfigError, Scope.Scope>
  /** The guard's options Schema, so a reload can check every guard's new options before changing any. */
  readonly schema: Schema.Schema<any, any>
  readonly fields: Record<string, (name: string) => Config.Config<unknown>>
}

const kinds: Record<Kind, KindDescriptor> = {
  circuitBreaker: {
    guard: "CircuitBreaker",
    make: makeCircuitBreaker,
    schema: CircuitBreakerSchema,
    fields: circuitBreakerFields
  },
  rateLimiter: { guard: "RateLimiter", make: makeRateLimiter, schema: RateLimiterSchema, fields: rateLimiterFields },
  bulkhead: { guard: "Bulkhead", make: makeBulkhead, schema: BulkheadSchema, fields: bulkheadFields },
  timeLimiter: { guard: "TimeLimiter", make: makeTimeLimiter, schema: TimeLimiterSchema, fields: timeLimiterFields },
  retry: {
    guard: "Retry",
    // A registry's retry is typed as able to raise MaxRetriesExceededError: a reload may turn it on.
    make: (options: Retry.Options) =>
      Effect.tap(makeRetry(options), (retry) => {
        retryFields(retry).mayRaise = true
      }),
    schema: RetryOptionsSchema,
    fields: retryConfigFields
  },
  adaptiveLimiter: {
    guard: "AdaptiveLimiter",
    make: makeAdaptiveLimiter,
    schema: LimiterOptionsSchema,
    fields: limiterConfigFields
  },
  adaptiveThrottler: {
    guard: "AdaptiveThrottler",
    make: makeAdaptiveThrottler,
    schema: ThrottlerOptionsSchema,
    fields: throttlerConfigFields
  },
  hedge: { guard: "Hedge", make: makeHedge, schema: HedgeOptionsSchema, fields: hedgeConfigFields }
}

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
  ) => Effect.Effect<void, InvalidConfigError | ConfigError.ConfigError>
}

interface Entry {
  readonly kind: Kind
  readonly guard: Guard
  readonly code: object
  /** The configured keys last applied, so a key that disappears from the configuration is reset. */
  configured: ReadonlyArray<string>
}

/**
 * `record[key]`, or the entry whose key matches ignoring case: configuration read from the environment
 * with a constant-case provider spells `default` and `payments` as `DEFAULT` and `PAYMENTS`.
 */
const lookup = <A>(record: Readonly<Record<string, A>> | undefined, key: string): A | undefined => {
  // Specs come from configuration and from JavaScript: anything but a record holds no entries.
  if (record === null || typeof record !== "object") return undefined
  if (Object.hasOwn(record, key)) return record[key]
  const lower = key.toLowerCase()
  const match = Object.keys(record).find((k) => k.toLowerCase() === lower)
  return match === undefined ? undefined : record[match]
}

const resolve = (spec: Spec, kind: Kind, name: string): Either<Record<string, unknown>> => {
  const kindSpec: KindSpec<{ readonly name: string; readonly [key: string]: unknown }> =
    (typeof spec === "object" && spec !== null ? spec[kind] : undefined) ?? {}
  const { baseConfig, ...own } = lookup(kindSpec.instances, name) ?? {}
  const base = baseConfig === undefined
    ? {}
    : typeof baseConfig === "string"
    ? lookup(kindSpec.configs, baseConfig)
    : undefined
  if (base === undefined) {
    return {
      error: invalidConfig(kinds[kind].guard, name, [{
        field: `${kind}.instances.${name}.baseConfig`,
        value: baseConfig,
        rule: `names no configuration (known: ${Object.keys(kindSpec.configs ?? {}).join(", ") || "none"})`
      }])
    }
  }
  return { value: { ...lookup(kindSpec.configs, "default"), ...base, ...own } }
}

type Either<A> = { readonly value: A; readonly error?: never } | { readonly error: InvalidConfigError }

class RegistryImpl implements Registry {
  private readonly entries = new Map<string, Entry>()
  private readonly lock = Effect.unsafeMakeSemaphore(1)

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
        return kinds[kind].make({ ...resolved.value, ...code, name }).pipe(
          Scope.extend(this.scope),
          Effect.tap((guard) =>
            Effect.sync(() => {
              this.entries.set(key, { kind, guard, code, configured: Object.keys(resolved.value) })
              this.created.unsafeOffer(guard)
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
    return Stream.unwrapScoped(Effect.map(PubSub.subscribe(this.created), (queue) => {
      const seen = new Set<Guard>()
      return Stream.concat(
        Stream.suspend(() => Stream.fromIterable(Array.from(this.entries.values(), (entry) => entry.guard))),
        Stream.fromQueue(queue)
      ).pipe(Stream.filter((guard) => seen.has(guard) ? false : (seen.add(guard), true)))
    }))
  }

  readonly spec: Effect.Effect<Spec> = Effect.sync(() => this.current)

  readonly reload = (spec: Spec): Effect.Effect<void, InvalidConfigError> =>
    this.lock.withPermits(1)(Effect.suspend(() => {
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
        Effect.zipRight(Effect.suspend(() => {
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
    }))

  readonly reloadFrom = (config: Config.Config<Spec>) => Effect.flatMap(config, this.reload)
}

const merge = (failures: ReadonlyArray<InvalidConfigError>): InvalidConfigError =>
  failures.length === 1 ? failures[0]! : invalidConfig(
    "Registry",
    failures.map((f) => `${f.guard}/${f.guardName}`).join(", "),
    failures.flatMap((f) => f.issues.map((issue) => ({ ...issue, field: `${f.guardName}.${issue.field}` })))
  )

/**
 * Creates a registry; its guards live in the surrounding `Scope`. Instances are created on first use.
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
export const make = (spec: Spec = {}): Effect.Effect<Registry, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const created = yield* Effect.acquireRelease(PubSub.unbounded<Guard>(), PubSub.shutdown)
    return new RegistryImpl(spec, scope, created)
  })

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
export const Registry = Context.GenericTag<Registry>("breakwater/Registry")

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
export const layer = (spec: Spec = {}): Layer.Layer<Registry> => Layer.scoped(Registry, make(spec))

const kindConfig = (descriptor: KindDescriptor) => {
  const fields = readFields(descriptor.fields)
  const instanceFields = Config.all([fields, Config.option(Config.string("baseConfig"))]).pipe(
    Config.map(([values, baseConfig]) =>
      Option.isSome(baseConfig) ? { ...values, baseConfig: baseConfig.value } : values
    )
  )
  const record = <A>(map: Option.Option<HashMap.HashMap<string, A>>) =>
    Object.fromEntries(Option.match(map, { onNone: () => [], onSome: (m) => Array.from(m) }))
  return Config.all({
    configs: Config.option(Config.hashMap(fields, "configs")),
    instances: Config.option(Config.hashMap(instanceFields, "instances"))
  }).pipe(Config.map(({ configs, instances }) => ({ configs: record(configs), instances: record(instances) })))
}

/**
 * Reads a {@link Spec} through `effect/Config`: keys such as
 * `circuitBreaker.configs.default.failureRateThreshold` and
 * `circuitBreaker.instances.payments.baseConfig`, under the optional namespace `root`. Values are
 * checked when guards are created or reloaded, by each guard's Schema.
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { Registry } from "breakwater"
 *
 * const provider = ConfigProvider.fromJson({
 *   resilience: { circuitBreaker: { configs: { default: { failureRateThreshold: 30 } } } }
 * })
 * const spec = Effect.withConfigProvider(Registry.config("resilience"), provider)
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
export const layerConfig = (config: Config.Config<Spec>): Layer.Layer<Registry, ConfigError.ConfigError> =>
  Layer.scoped(Registry, Effect.flatMap(config, make))
