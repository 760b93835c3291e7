/**
 * The dependency's behaviour, whatever carries its requests (a real HTTP server or the simulation):
 * healthy, then failing on the scenario's schedule, and overloaded whenever more requests arrived in
 * the last second than it can serve. Overload is what makes a retry storm outlive the failure that
 * started it: an overloaded dependency fails everything, which makes naive callers retry more.
 */
import { randomIntBetween } from "#port/demo"
import { Clock, Effect } from "effect"
import { phaseAt, type Scenario } from "./scenario.js"

export interface Answer {
  readonly status: number
  readonly body: string
  /** Sent as `Retry-After` (seconds): when the caller should try again. */
  readonly retryAfterSeconds?: number
}

export interface DependencyStats {
  /** Requests that reached the dependency. */
  arrivals: number
  /** Arrivals per second of the run. */
  readonly arrivalsPerSecond: Array<number>
  /** Seconds of the run during which it was overloaded. */
  readonly overloadedSeconds: Set<number>
}

export interface Dependency {
  readonly handle: Effect.Effect<Answer>
  readonly stats: DependencyStats
  /** Millis the dependency stayed overloaded after its scheduled recovery; `atEnd` if it never got out. */
  readonly overloadAfterRecovery: () => { readonly millis: number; readonly atEnd: boolean }
}

export const make = (scenario: Scenario, startMillis: number): Dependency => {
  const stats: DependencyStats = { arrivals: 0, arrivalsPerSecond: [], overloadedSeconds: new Set() }
  // Arrival times of the last second, oldest first: the load the dependency is under now.
  const recent: Array<number> = []
  let oldest = 0
  const handle = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const elapsed = now - startMillis
    const second = Math.floor(elapsed / 1000)
    stats.arrivals++
    stats.arrivalsPerSecond[second] = (stats.arrivalsPerSecond[second] ?? 0) + 1
    recent.push(now)
    while (oldest < recent.length && recent[oldest]! <= now - 1000) oldest++
    if (oldest > 4096) {
      recent.splice(0, oldest)
      oldest = 0
    }
    const load = recent.length - oldest
    const [low, high] = scenario.latencyMillis
    const latency = yield* randomIntBetween(low, high + 1)
    switch (phaseAt(scenario, elapsed)) {
      case "stall":
        // Accepted at once, answered late: each request holds its connection this long.
        yield* Effect.sleep(scenario.stallMillis)
        return { status: 200, body: "{\"ok\":true}" }
      case "errors":
        yield* Effect.sleep(latency)
        return { status: 500, body: "internal error" }
      case "timeouts":
        yield* Effect.sleep(scenario.hangMillis)
        return { status: 504, body: "upstream timed out" }
      default:
        if (load > scenario.capacity) {
          stats.overloadedSeconds.add(second)
          yield* Effect.sleep(latency)
          return { status: 503, body: "overloaded" }
        }
        yield* Effect.sleep(latency)
        return { status: 200, body: "{\"ok\":true}" }
    }
  })
  const overloadAfterRecovery = () => {
    const recovered = Math.floor(scenario.recoversAt / 1000)
    const lastSecond = Math.ceil(scenario.durationMillis / 1000) - 1
    let last = -1
    for (const second of stats.overloadedSeconds) if (second >= recovered && second > last) last = second
    if (last < 0) return { millis: 0, atEnd: false }
    return { millis: (last + 1) * 1000 - scenario.recoversAt, atEnd: last >= lastSecond }
  }
  return { handle, stats, overloadAfterRecovery }
}
