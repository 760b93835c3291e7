/**
 * A contended limiter: 1,000 fibers each calling through one limiter in a loop, with permits refreshing
 * (1,000 per 10 ms, so at most 100,000 grants a second), for a fixed stretch of real time. Reported:
 * the grants per second against that cap (throughput), and how evenly the grants were spread over the
 * fibers (fairness: min / median / max per fiber and Jain's index, 1.0 = perfectly even).
 */
import { RateLimiter as ExperimentalRateLimiter } from "@effect/experimental"
import { Effect, Fiber, RateLimiter as EffectRateLimiter, type Scope } from "effect"
import { RateLimiter } from "../../src/index.js"

export const CONTENDED = { fibers: 1_000, limit: 1_000, periodMillis: 10 } as const

export interface ContendedResult {
  readonly name: string
  readonly grantsPerSecond: number
  /** Grants per second over the configured cap. */
  readonly utilization: number
  readonly minPerFiber: number
  readonly medianPerFiber: number
  readonly maxPerFiber: number
  readonly starvedFibers: number
  readonly jainIndex: number
}

type Guard = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, unknown, R>

const period = `${CONTENDED.periodMillis} millis` as const

const contenders: ReadonlyArray<{ readonly name: string; readonly make: Effect.Effect<Guard, unknown, Scope.Scope> }> =
  [
    ...(["fixed-window", "token-bucket", "sliding-window"] as const).map((algorithm) => ({
      name: `breakwater ${algorithm}`,
      make: Effect.map(
        RateLimiter.make({
          name: `contended-${algorithm}`,
          algorithm,
          limitForPeriod: CONTENDED.limit,
          limitRefreshPeriod: period,
          timeoutDuration: "1 minute"
        }),
        (limiter): Guard => RateLimiter.policy(limiter)
      )
    })),
    ...(["fixed-window", "token-bucket"] as const).map((algorithm) => ({
      name: `Effect 3 RateLimiter.make ${algorithm}`,
      make: Effect.map(
        EffectRateLimiter.make({ limit: CONTENDED.limit, interval: period, algorithm }),
        (limiter): Guard => limiter
      )
    })),
    ...(["fixed-window", "token-bucket"] as const).map((algorithm) => ({
      name: `@effect/experimental memory store ${algorithm} (onExceeded: delay)`,
      make: ExperimentalRateLimiter.makeWithRateLimiter.pipe(
        Effect.map((withLimiter): Guard =>
          withLimiter({ algorithm, key: "contended", limit: CONTENDED.limit, window: period, onExceeded: "delay" })
        ),
        Effect.provide(ExperimentalRateLimiter.layer),
        Effect.provide(ExperimentalRateLimiter.layerStoreMemory)
      )
    }))
  ]

const summarize = (name: string, grants: ReadonlyArray<number>, seconds: number): ContendedResult => {
  const sorted = [...grants].sort((a, b) => a - b)
  const total = sorted.reduce((sum, n) => sum + n, 0)
  const squares = sorted.reduce((sum, n) => sum + n * n, 0)
  const cap = CONTENDED.limit * 1000 / CONTENDED.periodMillis
  return {
    name,
    grantsPerSecond: total / seconds,
    utilization: total / seconds / cap,
    minPerFiber: sorted[0] ?? 0,
    medianPerFiber: sorted[sorted.length >> 1] ?? 0,
    maxPerFiber: sorted[sorted.length - 1] ?? 0,
    starvedFibers: sorted.filter((n) => n === 0).length,
    jainIndex: squares === 0 ? 0 : total * total / (sorted.length * squares)
  }
}

const contend = (
  name: string,
  make: Effect.Effect<Guard, unknown, Scope.Scope>,
  fibers: number,
  warmupMillis: number,
  millis: number
): Effect.Effect<ContendedResult, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const guard = yield* make
    const counts = new Array<number>(fibers).fill(0)
    const call = Effect.succeed(1)
    const running = yield* Effect.forEach(
      counts,
      (_, i) => Effect.fork(Effect.forever(Effect.zipRight(guard(call), Effect.sync(() => counts[i]!++)))),
      { concurrency: "unbounded" }
    )
    yield* Effect.sleep(warmupMillis)
    const before = [...counts]
    const start = performance.now()
    yield* Effect.sleep(millis)
    const after = [...counts]
    const seconds = (performance.now() - start) / 1000
    yield* Fiber.interruptAll(running)
    return summarize(name, after.map((n, i) => n - before[i]!), seconds)
  }))

export const runContended = async (
  options: { readonly fibers: number; readonly warmupMillis: number; readonly millis: number }
): Promise<Array<ContendedResult>> => {
  const results: Array<ContendedResult> = []
  for (const { make, name } of contenders) {
    results.push(await Effect.runPromise(contend(name, make, options.fibers, options.warmupMillis, options.millis)))
  }
  return results
}
