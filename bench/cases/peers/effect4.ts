/**
 * Effect 4's `effect/persistence` CircuitBreaker and RateLimiter with their memory stores, through the
 * npm alias `effect4`, run by Effect 4's own runtime. Its baselines (bare succeed and the same floor
 * wrapper, on Effect 4) are measured too, so the runtime's own speed can be told from the guard's.
 */
import { Effect, Exit, Scope } from "effect4"
import { CircuitBreaker, RateLimiter } from "effect4/persistence"
import { atTeardown } from "../../floor.js"
import type { Case } from "../../harness.js"
import { Ours } from "./names.js"

export const Effect4Baseline = {
  succeed: "Effect 4: bare Effect.succeed",
  floor: "Effect 4: floor wrapper, success"
} as const

const scope = Effect.runSync(Scope.make())
atTeardown(() => Effect.runPromise(Scope.close(scope, Exit.void)))

const build = <A, E>(make: Effect.Effect<A, E, Scope.Scope>): A => Effect.runSync(Scope.provide(make, scope))

const effect4Case = (name: string, op: Effect.Effect<unknown, unknown>, extra?: Partial<Case>): Case => ({
  baseline: Effect4Baseline.floor,
  ...extra,
  name,
  run: (ops) => {
    const exit = Effect.runSyncExit(Effect.gen(function*() {
      for (let i = 0; i < ops; i++) yield* Effect.exit(op)
    }))
    if (Exit.isFailure(exit)) throw new Error(`${name} crashed`)
  }
})

let bookkeeping = 0
const floor4 = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    bookkeeping++
    return Effect.matchCauseEffect(self, {
      onSuccess: (a) => {
        bookkeeping++
        return Effect.succeed(a)
      },
      onFailure: (cause) => {
        bookkeeping--
        return Effect.failCause(cause)
      }
    })
  })
export const floor4Bookkeeping = () => bookkeeping

const call = Effect.succeed(1)
const failing = Effect.fail("boom")

const breakers = build(Effect.gen(function*() {
  const make = (tripPolicy: CircuitBreaker.TripPolicy) =>
    CircuitBreaker.make({ tripPolicy, openDuration: "1 hour" }).pipe(
      Effect.provide(CircuitBreaker.layerStoreMemory())
    )
  const consecutive = yield* make(CircuitBreaker.consecutive(5))
  const rate = yield* make(CircuitBreaker.rate({ threshold: 0.5, size: 100 }))
  // Never trips: a rate over a window of 1e6 calls with a minimum no run reaches.
  const tolerant = yield* make(CircuitBreaker.rate({ threshold: 0.5, size: 1e6, minimumCalls: 1e6 }))
  const open = yield* make(CircuitBreaker.consecutive(1))
  yield* Effect.exit(open.execute(failing, { key: "open" }))
  return { consecutive, rate, tolerant, open }
}))

const limiter = build(RateLimiter.make.pipe(Effect.provide(RateLimiter.layerStoreMemory)))

const permits = (algorithm: "fixed-window" | "token-bucket") =>
  limiter.consume({ algorithm, key: algorithm, limit: 1e12, window: "1 hour" })

export const baselineCases: ReadonlyArray<Case> = [
  effect4Case(Effect4Baseline.succeed, call, { baseline: Effect4Baseline.succeed }),
  effect4Case(Effect4Baseline.floor, floor4(call))
]

export const breakerCases: ReadonlyArray<Case> = [
  effect4Case("Effect 4 CircuitBreaker consecutive(5), success", breakers.consecutive.execute(call, { key: "k" }), {
    ours: Ours.breakerCount
  }),
  effect4Case("Effect 4 CircuitBreaker rate(100), success", breakers.rate.execute(call, { key: "k" }), {
    ours: Ours.breakerCount
  })
]

export const failureCases: ReadonlyArray<Case> = [
  effect4Case("Effect 4 CircuitBreaker rate, failure recorded", breakers.tolerant.execute(failing, { key: "k" }), {
    ours: Ours.breakerFailure
  }),
  effect4Case("Effect 4 CircuitBreaker open, refusal", breakers.open.execute(call, { key: "open" }), {
    ours: Ours.breakerOpen
  })
]

export const rateLimiterCases: ReadonlyArray<Case> = [
  effect4Case("Effect 4 RateLimiter memory store, fixed-window", Effect.andThen(permits("fixed-window"), call), {
    ours: Ours.fixedWindow
  }),
  effect4Case("Effect 4 RateLimiter memory store, token-bucket", Effect.andThen(permits("token-bucket"), call), {
    ours: Ours.tokenBucket
  })
]
