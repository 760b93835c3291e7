/**
 * The one place that knows the guards' implementation fields observability reads: cumulative
 * counters, resolved settings and event hubs. Everything here is synchronous and allocation-light, for
 * collection on read (a scrape, a snapshot, a health check).
 *
 * @internal
 */
import { durationOf } from "#port"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { BulkheadCore } from "../../core/bulkheadCore.js"
import { EventHub } from "../../shared/internal/eventHub.js"
import type { CallTimings } from "../../shared/internal/observe.js"
import type * as AdaptiveLimiter from "../AdaptiveLimiter.js"
import type * as AdaptiveThrottler from "../AdaptiveThrottler.js"
import type * as Bulkhead from "../Bulkhead.js"
import type * as CircuitBreaker from "../CircuitBreaker.js"
import type * as Hedge from "../Hedge.js"
import type * as RateLimiter from "../RateLimiter.js"
import type * as Retry from "../Retry.js"
import type * as TimeLimiter from "../TimeLimiter.js"
import type { Guard } from "./anyGuard.js"

interface BreakerFields {
  readonly calls: CallTimings
  readonly notPermittedCalls: number
  readonly config: Record<string, unknown>
  /** Shared breakers only: outages begun, and calls decided without the store by failure mode. */
  readonly storeOutages?: number
  readonly storeUnavailableCalls?: Readonly<Record<"local-fallback" | "fail-open" | "fail-closed", number>>
  /** Shared breakers only: true while the store does not answer. */
  readonly outage?: boolean
  /** Shared breakers only: operations the store evaluated under another instance's settings. */
  readonly settingsMismatches?: number
  /** Shared breakers only: stored states that did not parse, discarded as lost. */
  readonly statesDiscarded?: number
}
interface LimiterFields {
  readonly successfulAcquires: number
  readonly failedAcquires: number
  /** Shared limiters only: outages begun, and calls decided without the store by failure mode. */
  readonly storeOutages?: number
  readonly storeUnavailableCalls?: Readonly<Record<"local-fallback" | "fail-open" | "fail-closed", number>>
  /** Shared limiters only: false while the store does not answer. */
  readonly outage?: boolean
  /** Shared limiters only: calls decided under another instance's settings. */
  readonly settingsMismatches?: number
  /** Shared limiters only: stored states that did not parse, discarded as lost. */
  readonly statesDiscarded?: number
  /** Shared limiters only: the figures their latest `metrics` read (which takes a round trip). */
  readonly lastMetrics?: RateLimiter.Metrics
  /** The quota learned from the upstream as last seen: calls left, and its reset (Clock millis). */
  readonly lastQuota?: { readonly remaining: number; readonly resetAt: number } | undefined
  readonly config: Record<string, unknown>
}
interface BulkheadFields {
  readonly rejectedCalls: number
  readonly maxWaitMillis: number
}
interface TimeLimiterFields {
  readonly successfulCalls: number
  readonly failedCalls: number
  readonly timeouts: number
}
interface RetryFields {
  readonly settings: Record<string, unknown>
  /** Whether the retry's type includes `MaxRetriesExceededError` (so `reconfigure` may turn it on). */
  mayRaise: boolean
}
interface AdaptiveFields {
  readonly config: Record<string, unknown>
}

/** Runs a guard's synchronous read (`metrics`, `state`, `settings`); `undefined` if it cannot. */
export const readNow = <A>(effect: Effect.Effect<A>): A | undefined => {
  const exit = Effect.runSyncExit(effect)
  return Exit.isSuccess(exit) ? exit.value : undefined
}

export const breakerFields = (guard: CircuitBreaker.CircuitBreaker<any, any>) => guard as unknown as BreakerFields
export const limiterFields = (guard: RateLimiter.RateLimiter) => guard as unknown as LimiterFields
export const bulkheadFields = (guard: Bulkhead.Bulkhead) => guard as unknown as BulkheadFields

/**
 * A bulkhead's slots taken and given back by hand (never waiting), for a holder whose slot must outlive
 * one effect: an HTTP request holds it until its response body is sent, after its handler returned.
 */
export const bulkheadSlots = (guard: Bulkhead.Bulkhead) => {
  const impl = guard as unknown as { readonly core: BulkheadCore; rejectedCalls: number }
  return {
    tryAcquire: (): boolean => {
      if (impl.core.tryAcquire()) return true
      impl.rejectedCalls++
      return false
    },
    release: (): void => {
      impl.core.release()
    }
  }
}
export const timeLimiterFields = (guard: TimeLimiter.TimeLimiter) => guard as unknown as TimeLimiterFields
export const retryFields = (guard: Retry.Retry<any, any>) => guard as unknown as RetryFields
export const adaptiveFields = (
  guard: AdaptiveLimiter.AdaptiveLimiter | AdaptiveThrottler.AdaptiveThrottler | Hedge.Hedge
) => guard as unknown as AdaptiveFields

/** The adaptive guards' duration options whose names `plainSettings` cannot tell are durations. */
const adaptiveDurations = ["timeout", "window", "delay"] as const

const adaptiveSettings = (config: Record<string, unknown>): Record<string, ConfigValue> => {
  const out = plainSettings(config)
  for (const key of adaptiveDurations) {
    const duration = key in config ? durationOf(config[key]) : Option.none()
    if (Option.isSome(duration)) out[key] = Duration.toMillis(duration.value)
  }
  return out
}

/** A guard's event hub (every guard keeps one in its `hub` field). */
export const hubOf = (guard: Guard): EventHub<unknown> => {
  const hub = (guard as unknown as { readonly hub: unknown }).hub
  if (!(hub instanceof EventHub)) throw new Error(`breakwater: ${guard.kind} '${guard.name}' has no event hub`)
  return hub
}

/** JSON-safe configuration values. */
export type ConfigValue = number | string | boolean

/**
 * The plain settings of a resolved configuration: numbers, strings, booleans, durations (as millis);
 * predicates and other code are left out (`"<schedule>"` marks where a schedule sets the timing).
 */
export const plainSettings = (config: Record<string, unknown>): Record<string, ConfigValue> => {
  const out: Record<string, ConfigValue> = {}
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined || key === "name") continue
    const duration = /Duration|Period/.test(key) ? durationOf(value) : Option.none()
    if (Option.isSome(duration)) out[key] = Duration.toMillis(duration.value)
    else if (typeof value === "number" || typeof value === "string" || typeof value === "boolean") out[key] = value
    else if (Schedule.isSchedule(value)) out[key] = "<schedule>"
  }
  return out
}

/** A guard's configuration as JSON-safe values. */
export const configurationOf = (guard: Guard): Record<string, ConfigValue> => {
  switch (guard.kind) {
    case "CircuitBreaker": {
      // Breakers of equal options share one resolved configuration, whose `name` is the first's.
      const settings = plainSettings(breakerFields(guard).config)
      if ("name" in settings) settings["name"] = guard.name
      return settings
    }
    case "RateLimiter":
      return plainSettings(limiterFields(guard).config)
    case "Bulkhead": {
      const metrics = readNow(guard.metrics)
      return {
        ...(metrics === undefined ? {} : { maxConcurrentCalls: metrics.maxAllowedConcurrentCalls }),
        maxWaitDuration: bulkheadFields(guard).maxWaitMillis
      }
    }
    case "TimeLimiter": {
      const settings = readNow(guard.settings)
      return settings === undefined ? {} : {
        timeoutDuration: Duration.toMillis(settings.timeoutDuration),
        cancelRunningCall: settings.cancelRunningCall
      }
    }
    case "Retry": {
      const settings = retryFields(guard).settings
      const { budget, ...rest } = settings as { budget?: { readonly name: string } }
      return { ...plainSettings(rest), ...(budget === undefined ? {} : { budget: budget.name }) }
    }
    case "AdaptiveLimiter":
    case "AdaptiveThrottler":
      return adaptiveSettings(adaptiveFields(guard).config)
    case "Hedge": {
      const { budget: _, ...rest } = adaptiveFields(guard).config
      return { ...adaptiveSettings(rest), budget: guard.budget.name }
    }
  }
}
