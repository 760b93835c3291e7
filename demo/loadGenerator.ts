/**
 * Clients that behave like real ones: they start `rate` logical requests per second (more during the
 * scenario's surge) whatever happens
 * (users keep clicking), give each attempt `clientTimeoutMillis`, and retry a failed attempt up to
 * `clientAttempts` in all, `clientBackoffMillis` apart (longer when the answer carries a `Retry-After`).
 * `send` carries one attempt and answers its status and `Retry-After`.
 *
 * Arrivals keep to their schedule, they never catch up: when the process was stalled past an arrival
 * (a loaded machine, a long GC), that arrival is missed (counted), not fired late together with the
 * others it stalled. Independent clients do not synchronise on our event loop: firing every overdue
 * arrival at once after a stall would send the guards a burst no real client population sends, and
 * the rate limiter would refuse some of it while the offered rate is healthy.
 */
import { randomBetween } from "#port/demo"
import { Clock, Effect, FiberSet } from "effect"
import { rateAt, type Scenario } from "./scenario.js"

/** One attempt's answer: its status (0: no answer in time), and the `Retry-After` it carried. */
export interface Reply {
  readonly status: number
  readonly retryAfterMillis: number
}

export interface GeneratorStats {
  /** Logical requests started. */
  offered: number
  /** Arrivals not started because the process was stalled past them (0 in virtual time). */
  missed: number
  /** Attempts sent to my server (the clients' retries included). */
  attempts: number
  succeeded: number
  failed: number
  /** Each finished logical request's latency (all its attempts), in millis. */
  readonly latencies: Array<number>
  readonly offeredPerSecond: Array<number>
  readonly attemptsPerSecond: Array<number>
  readonly failedPerSecond: Array<number>
}

export const emptyStats = (): GeneratorStats => ({
  offered: 0,
  missed: 0,
  attempts: 0,
  succeeded: 0,
  failed: 0,
  latencies: [],
  offeredPerSecond: [],
  attemptsPerSecond: [],
  failedPerSecond: []
})

const bump = (series: Array<number>, second: number) => {
  series[second] = (series[second] ?? 0) + 1
}

/**
 * Runs the clients for the scenario's duration from `startMillis`, then gives the requests still in
 * flight `graceMillis` to finish before interrupting them.
 */
export const run = (
  scenario: Scenario,
  startMillis: number,
  send: Effect.Effect<Reply, unknown>,
  stats: GeneratorStats,
  graceMillis = 2_000
): Effect.Effect<GeneratorStats> =>
  Effect.scoped(Effect.gen(function*() {
    const secondOf = (now: number) => Math.floor((now - startMillis) / 1000)
    const attempt = Effect.gen(function*() {
      stats.attempts++
      bump(stats.attemptsPerSecond, secondOf(yield* Clock.currentTimeMillis))
      return yield* send.pipe(
        Effect.timeout(scenario.clientTimeoutMillis),
        Effect.orElseSucceed((): Reply => ({ status: 0, retryAfterMillis: 0 }))
      )
    })
    const logical = Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      let ok = false
      let wait = 0
      for (let n = 1; n <= scenario.clientAttempts && !ok; n++) {
        // A `Retry-After` is honoured when longer than the clients' own backoff.
        if (n > 1) yield* Effect.sleep(Math.max(scenario.clientBackoffMillis, wait))
        const reply = yield* attempt
        ok = reply.status > 0 && reply.status < 500
        wait = reply.retryAfterMillis
      }
      const now = yield* Clock.currentTimeMillis
      stats.latencies.push(now - started)
      if (ok) stats.succeeded++
      else {
        stats.failed++
        bump(stats.failedPerSecond, secondOf(now))
      }
    })
    const inFlight = yield* FiberSet.make()
    // Slots one interval apart at the rate of their time (faster during a surge).
    for (let slot = 0; slot < scenario.durationMillis; slot += 1000 / rateAt(scenario, slot)) {
      const interval = 1000 / rateAt(scenario, slot)
      // Arrivals are spread a little around their slot, as independent clients' would be.
      const jitter = yield* randomBetween(-interval / 4, interval / 4)
      const due = startMillis + Math.max(0, Math.round(slot + jitter))
      const now = yield* Clock.currentTimeMillis
      if (due > now) yield* Effect.sleep(due - now)
      else if (now - due > interval) {
        // Stalled past it by more than an interval (the next arrival is due already): missed.
        stats.missed++
        continue
      }
      stats.offered++
      bump(stats.offeredPerSecond, secondOf(due))
      yield* FiberSet.run(inFlight, logical)
    }
    yield* FiberSet.join(inFlight).pipe(Effect.timeout(graceMillis), Effect.ignore)
    return stats
  }))
