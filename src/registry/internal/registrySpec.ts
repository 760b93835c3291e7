/**
 * A registry's specification and how it resolves: each kind's named configurations and instances
 * (`Spec`), the guards' constructors and Schemas by kind, `baseConfig` inheritance, case-insensitive keys
 * and the check of a whole specification before any guard is built. The public `Registry` module
 * re-exports the specification's types.
 *
 * @internal
 */
import { type Codec, decodeOptions, invalidConfig } from "#port"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { ConfigIssue } from "../../errors/InvalidConfigError.js"
import { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import type * as AdaptiveLimiter from "../../guards/AdaptiveLimiter.js"
import { make as makeAdaptiveLimiter } from "../../guards/AdaptiveLimiter.js"
import type * as AdaptiveThrottler from "../../guards/AdaptiveThrottler.js"
import { make as makeAdaptiveThrottler } from "../../guards/AdaptiveThrottler.js"
import type * as Bulkhead from "../../guards/Bulkhead.js"
import { make as makeBulkhead } from "../../guards/Bulkhead.js"
import type * as CircuitBreaker from "../../guards/CircuitBreaker.js"
import { make as makeCircuitBreaker } from "../../guards/CircuitBreaker.js"
import type * as Hedge from "../../guards/Hedge.js"
import { make as makeHedge } from "../../guards/Hedge.js"
import {
  hedgeConfigFields,
  HedgeOptionsSchema,
  limiterConfigFields,
  LimiterOptionsSchema,
  throttlerConfigFields,
  ThrottlerOptionsSchema
} from "../../guards/internal/adaptiveConfig.js"
import type { Guard } from "../../guards/internal/anyGuard.js"
import {
  configFields as bulkheadFields,
  OptionsSchema as BulkheadSchema
} from "../../guards/internal/bulkheadConfig.js"
import {
  configFields as circuitBreakerFields,
  OptionsSchema as CircuitBreakerSchema
} from "../../guards/internal/circuitBreakerConfig.js"
import { retryFields } from "../../guards/internal/guardInternals.js"
import {
  configFields as rateLimiterFields,
  OptionsSchema as RateLimiterSchema
} from "../../guards/internal/rateLimiterConfig.js"
import { retryConfigFields, RetryOptionsSchema } from "../../guards/internal/retryConfig.js"
import {
  configFields as timeLimiterFields,
  OptionsSchema as TimeLimiterSchema
} from "../../guards/internal/timeLimiterConfig.js"
import type * as RateLimiter from "../../guards/RateLimiter.js"
import { make as makeRateLimiter } from "../../guards/RateLimiter.js"
import type * as Retry from "../../guards/Retry.js"
import { make as makeRetry } from "../../guards/Retry.js"
import type * as TimeLimiter from "../../guards/TimeLimiter.js"
import { make as makeTimeLimiter } from "../../guards/TimeLimiter.js"

/**
 * One kind's named configurations and instances, as Spring's `resilience4j.<kind>.configs` and
 * `.instances`: `configs.default` applies to an instance with no `baseConfig` and no configuration of
 * its own name; any configuration or instance may name a `baseConfig`.
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
  readonly configs?: Readonly<Record<string, Partial<Omit<O, "name">> & { readonly baseConfig?: string }>>
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

export interface KindDescriptor {
  readonly guard: string
  readonly make: (options: any) => Effect.Effect<Guard, InvalidConfigError, Scope.Scope>
  /** The guard's options Schema, so a reload can check every guard's new options before changing any. */
  readonly schema: Codec<any, any>
  readonly fields: Record<string, (name: string) => Config.Config<unknown>>
}

export const kinds: Record<Kind, KindDescriptor> = {
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
      Effect.tap(makeRetry(options), (retry) =>
        Effect.sync(() => {
          retryFields(retry).mayRaise = true
        })),
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

/**
 * The key of `record` equal to `key`, or the one that matches ignoring case: configuration read from
 * the environment with a constant-case provider spells `default` and `payments` as `DEFAULT` and
 * `PAYMENTS`.
 */
export const keyOf = (record: Readonly<Record<string, unknown>> | undefined, key: string): string | undefined => {
  // Specs come from configuration and from JavaScript: anything but a record holds no entries.
  if (record === null || typeof record !== "object") return undefined
  if (Object.hasOwn(record, key)) return key
  const lower = key.toLowerCase()
  return Object.keys(record).find((k) => k.toLowerCase() === lower)
}

export type Keys = Readonly<Record<string, unknown>>

export const kindSpecOf = (
  spec: Spec,
  kind: Kind
): KindSpec<{ readonly name: string; readonly [key: string]: unknown }> =>
  (typeof spec === "object" && spec !== null ? spec[kind] : undefined) ?? {}

/**
 * A named configuration's keys over those of its `baseConfig` chain, as Resilience4j's
 * `createCircuitBreakerConfig` builds them: a configuration inherits only what it names (not
 * `configs.default`, unless it names it). `chain` holds the names already followed, to refuse cycles
 * (Resilience4j refuses a configuration naming itself and overflows its stack on longer cycles).
 */
const resolveConfig = (
  kind: Kind,
  configs: Readonly<Record<string, Keys>>,
  key: string,
  chain: ReadonlyArray<string>
): Either<Keys> => {
  const { baseConfig, ...own } = configs[key] ?? {}
  if (baseConfig === undefined) return { value: own }
  const field = `${kind}.configs.${key}.baseConfig`
  const base = followBase(kind, configs, baseConfig, field, chain, chain[0] ?? key)
  return base.error !== undefined ? base : { value: { ...base.value, ...own } }
}

const followBase = (
  kind: Kind,
  configs: Readonly<Record<string, Keys>> | undefined,
  baseConfig: unknown,
  field: string,
  chain: ReadonlyArray<string>,
  owner: string
): Either<Keys> => {
  const fail = (rule: string): Either<Keys> => ({
    error: invalidConfig(kinds[kind].guard, owner, [{ field, value: baseConfig, rule }])
  })
  if (typeof baseConfig !== "string") return fail("must be the name of a configuration")
  const key = keyOf(configs, baseConfig)
  if (key === undefined || configs === undefined) {
    return fail(`names no configuration (known: ${Object.keys(configs ?? {}).join(", ") || "none"})`)
  }
  const lower = key.toLowerCase()
  if (chain.some((name) => name.toLowerCase() === lower)) {
    return fail(`is a circular reference (${[...chain, key].join(" -> ")})`)
  }
  return resolveConfig(kind, configs, key, [...chain, key])
}

/**
 * An instance's configured keys, as Resilience4j resolves them: the instance's own keys over, in order
 * of precedence, its `baseConfig` chain, else the configuration of the same name, else
 * `configs.default`, else nothing (the guard's defaults).
 */
export const resolve = (spec: Spec, kind: Kind, name: string): Either<Keys> => {
  const kindSpec = kindSpecOf(spec, kind)
  const configs = kindSpec.configs as Readonly<Record<string, Keys>> | undefined
  const instanceKey = keyOf(kindSpec.instances, name)
  const { baseConfig, ...own } = instanceKey === undefined ? {} : (kindSpec.instances?.[instanceKey] ?? {})
  const field = `${kind}.instances.${instanceKey ?? name}.baseConfig`
  // Instances and configurations are separate namespaces, but Resilience4j refuses an instance whose
  // baseConfig is its own name; past that, only configurations can form a cycle.
  if (typeof baseConfig === "string" && baseConfig.toLowerCase() === name.toLowerCase()) {
    const rule = `is a circular reference (${name} -> ${baseConfig})`
    return { error: invalidConfig(kinds[kind].guard, name, [{ field, value: baseConfig, rule }]) }
  }
  const base = baseConfig !== undefined
    ? followBase(kind, configs, baseConfig, field, [], name)
    : inherit(kind, configs, name)
  return base.error !== undefined ? base : { value: { ...base.value, ...own } }
}

export const inherit = (
  kind: Kind,
  configs: Readonly<Record<string, Keys>> | undefined,
  name: string
): Either<Keys> => {
  const key = keyOf(configs, name) ?? keyOf(configs, "default")
  return key === undefined || configs === undefined ? { value: {} } : resolveConfig(kind, configs, key, [key])
}

/**
 * Every problem of a specification, found before any guard is built (as Spring builds every
 * configuration at startup): unknown or circular `baseConfig`s, and values each guard's Schema refuses
 * in any configuration or declared instance. Options given in code are checked when the guard is built.
 */
export const validateSpec = (spec: Spec): Effect.Effect<void, InvalidConfigError> =>
  Effect.suspend(() => {
    const issues: Array<ConfigIssue> = []
    const check = (kind: Kind, path: string, name: string, resolved: Either<Keys>) => {
      if (resolved.error !== undefined) return Effect.sync(() => issues.push(...resolved.error.issues))
      const descriptor = kinds[kind]
      return Effect.matchEffect(decodeOptions(descriptor.schema, descriptor.guard, { ...resolved.value, name }), {
        onFailure: (error) =>
          Effect.sync(() =>
            issues.push(...error.issues.map((issue) => ({ ...issue, field: `${path}.${issue.field}` })))
          ),
        onSuccess: () => Effect.void
      })
    }
    return Effect.andThen(
      Effect.forEach(Object.keys(kinds) as Array<Kind>, (kind) => {
        const kindSpec = kindSpecOf(spec, kind)
        const records = (record: unknown) => record !== null && typeof record === "object" ? Object.keys(record) : []
        const configs = kindSpec.configs as Readonly<Record<string, Keys>>
        return Effect.andThen(
          Effect.forEach(
            records(kindSpec.configs),
            (key) => check(kind, `${kind}.configs.${key}`, key, resolveConfig(kind, configs, key, [key])),
            { discard: true }
          ),
          Effect.forEach(
            records(kindSpec.instances),
            (key) => check(kind, `${kind}.instances.${key}`, key, resolve(spec, kind, key)),
            { discard: true }
          )
        )
      }, { discard: true }),
      Effect.suspend(() => {
        if (issues.length === 0) return Effect.void
        // A broken configuration shows once, however many configurations and instances inherit it.
        const unique = new Map(issues.map((issue) => [`${issue.field}\u0000${issue.rule}`, issue]))
        return Effect.fail(invalidConfig("Registry", "spec", Array.from(unique.values())))
      })
    )
  })

export type Either<A> = { readonly value: A; readonly error?: never } | { readonly error: InvalidConfigError }

export const merge = (failures: ReadonlyArray<InvalidConfigError>): InvalidConfigError =>
  failures.length === 1 ? failures[0]! : invalidConfig(
    "Registry",
    failures.map((f) => `${f.guard}/${f.guardName}`).join(", "),
    failures.flatMap((f) => f.issues.map((issue) => ({ ...issue, field: `${f.guardName}.${issue.field}` })))
  )
