/**
 * The in-process breaker's settings: what every breaker of one configuration shares (the decoded
 * options, the state machine's settings, the predicates and the wait schedule), decoded once and reused
 * by breakers made in a row with equal options. (A shared breaker's settings for its store are
 * `sharedCircuitSettings.ts`'s.)
 *
 * @internal
 */
import { decodeOptions, type DurationInput, Name, type UserSchedule } from "#port"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type { MachineConfig } from "../../core/circuitMachine.js"
import type { InvalidConfigError } from "../../errors/InvalidConfigError.js"
import type { Options } from "./circuitBreakerApi.js"
import { type CallPredicates, predicatesOf } from "./circuitBreakerBase.js"
import { OptionsSchema, type ResolvedOptions } from "./circuitBreakerConfig.js"

/** The state machine's settings for `config` (one object, shareable by every breaker of that config). */
const machineConfigOf = (config: ResolvedOptions): MachineConfig => {
  const wait = config.waitDurationInOpenState
  const fixedWait = Schedule.isSchedule(wait) ? undefined : Duration.toMillis(wait as DurationInput)
  return {
    failureRateThreshold: config.failureRateThreshold,
    slowCallRateThreshold: config.slowCallRateThreshold,
    slowCallDurationThresholdMillis: Duration.toMillis(config.slowCallDurationThreshold),
    slidingWindowType: config.slidingWindowType,
    slidingWindowSize: config.slidingWindowSize,
    minimumNumberOfCalls: config.minimumNumberOfCalls,
    permittedNumberOfCallsInHalfOpenState: config.permittedNumberOfCallsInHalfOpenState,
    waitInOpenMillis: fixedWait,
    backoffReset: config.backoffReset,
    // Nothing in process reads the windows' summed durations (only a store reports them).
    keepDurations: false
  }
}

/**
 * What every breaker of one configuration shares, immutable: a keyed breaker's keys, and breakers made
 * with equal options (see {@link sharedSettings}), hold one of these instead of a copy each.
 */
export interface Settings extends CallPredicates {
  readonly config: ResolvedOptions
  readonly machine: MachineConfig
  readonly retryAfterOf: ((failure: unknown) => Option.Option<DurationInput>) | undefined
  readonly maxRetryAfterMillis: number
  readonly waitSchedule: UserSchedule<number> | undefined
  /** The options these were decoded from, for {@link sharedSettings} to compare (name aside). */
  readonly source: object
}

export const settingsOf = (config: ResolvedOptions, source: object): Settings => {
  const wait = config.waitDurationInOpenState
  return {
    config,
    machine: machineConfigOf(config),
    ...predicatesOf(config),
    retryAfterOf: config.retryAfter as ((failure: unknown) => Option.Option<DurationInput>) | undefined,
    maxRetryAfterMillis: Duration.toMillis(config.maxRetryAfter),
    waitSchedule: Schedule.isSchedule(wait) ? (wait as UserSchedule<number>) : undefined,
    source
  }
}

/** Whether `a` and `b` hold the same values under the same keys, `name` aside. */
const sameOptions = (a: object, b: object): boolean => {
  if (a === b) return true
  const ra = a as Record<string, unknown>
  const rb = b as Record<string, unknown>
  let keys = 0
  for (const key in ra) {
    if (key === "name") continue
    if (!Object.hasOwn(rb, key) || !Object.is(ra[key], rb[key])) return false
    keys++
  }
  for (const key in rb) if (key !== "name") keys--
  return keys === 0
}

/**
 * The settings last decoded for `make`, held weakly (they hold the caller's predicates and schedules):
 * breakers made in a row with equal options (per tenant, per host, from one options object) share
 * them, and the options are decoded once.
 */
let lastSettings: WeakRef<Settings> | undefined

const validName = Schema.is(Name)

/** Settings for `options`: the last ones when the options are equal (name aside), else decoded now. */
export const sharedSettings = (options: Options<any, any>): Effect.Effect<Settings, InvalidConfigError> =>
  Effect.suspend(() => {
    const last = lastSettings?.deref()
    // The name is the one field not shared: it is still checked as the decoding would.
    if (last !== undefined && sameOptions(options, last.source) && validName(options.name)) return Effect.succeed(last)
    return Effect.map(decodeOptions(OptionsSchema, "CircuitBreaker", options), (config) => {
      const settings = settingsOf(config, options)
      lastSettings = new WeakRef(settings)
      return settings
    })
  })
