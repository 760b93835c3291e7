/**
 * What a shared circuit breaker sends its store with every operation: its resolved options as plain
 * numbers, with a `Schedule` wait unrolled into its first delays (a store cannot run a schedule), the
 * trial-permit lease, and the TTL after which an abandoned breaker's keys vanish.
 *
 * @internal
 */
import { type DurationInput, makeStepper, type UserSchedule } from "#port"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type { CircuitSettings } from "../../store/CircuitBreakerStore.js"
import type { ResolvedOptions } from "./circuitBreakerConfig.js"

/** How many steps of a `Schedule` wait are sent to the store (the last one repeats after). */
const SCHEDULE_STEPS = 16
const HOUR = 3_600_000

/** The store-facing settings of a resolved configuration. */
export const settingsOf = (config: ResolvedOptions, now: number): Effect.Effect<CircuitSettings> =>
  Effect.map(waitsOf(config.waitDurationInOpenState, now), (waits) => {
    const slowMillis = Duration.toMillis(config.slowCallDurationThreshold)
    const maxHalfOpen = Duration.toMillis(config.maxWaitDurationInHalfOpenState)
    // A lease only frees the permit of a holder that died: a live trial's result counts whenever it
    // comes. Tied to the slow threshold (twice it, so a dependency slower than the threshold does not
    // get extra concurrent trials), at least 1 s and at most 10 minutes, which bounds how long a crashed
    // holder keeps its permit.
    const leaseMillis = Math.min(Math.max(Math.ceil(2 * slowMillis), 1_000), 600_000)
    const windowMillis = config.slidingWindowType === "TIME_BASED" ? config.slidingWindowSize * 1000 : 0
    return {
      failureRateThreshold: config.failureRateThreshold,
      slowCallRateThreshold: config.slowCallRateThreshold,
      slowCallDurationThresholdMillis: slowMillis,
      slidingWindowType: config.slidingWindowType,
      slidingWindowSize: config.slidingWindowSize,
      minimumNumberOfCalls: config.minimumNumberOfCalls,
      permittedNumberOfCallsInHalfOpenState: config.permittedNumberOfCallsInHalfOpenState,
      waitsInOpenMillis: waits,
      automaticTransitionFromOpenToHalfOpenEnabled: config.automaticTransitionFromOpenToHalfOpenEnabled,
      maxWaitInHalfOpenMillis: Number.isFinite(maxHalfOpen) ? maxHalfOpen : 0,
      transitionToStateAfterWaitDuration: config.transitionToStateAfterWaitDuration,
      leaseMillis,
      ttlMillis: Math.ceil(
        Math.max(HOUR, 2 * Math.max(...waits), 2 * windowMillis, 2 * maxHalfOpen || 0, 2 * leaseMillis)
      )
    }
  })

const waitsOf = (
  wait: DurationInput | UserSchedule<number>,
  now: number
): Effect.Effect<Array<number>> => {
  if (!Schedule.isSchedule(wait)) return Effect.succeed([Duration.toMillis(wait as DurationInput)])
  const schedule = wait as UserSchedule<number>
  return Effect.gen(function*() {
    const waits: Array<number> = []
    const step = yield* makeStepper(schedule)
    for (let attempt = 1; attempt <= SCHEDULE_STEPS; attempt++) {
      const start = yield* step(now, attempt)
      if (!Number.isFinite(start)) break
      waits.push(Math.max(1, start - now))
    }
    return waits.length === 0 ? [60_000] : waits
  })
}
