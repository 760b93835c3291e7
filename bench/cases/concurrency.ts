/**
 * 10,000 fibers through one breaker at once: each operation is a batch of 10,000 concurrent fibers, each
 * making 10 calls that yield once (so the calls really interleave), and the figure is per call. The
 * same batch through the floor wrapper is its yardstick: most of either figure is the runtime's cost of
 * forking and scheduling fibers, and the ratio shows what the breaker adds under that concurrency.
 * (Fibers are forked one by one and counted down to a Deferred: `Effect.forEach` with unbounded
 * concurrency costs several times more per fiber at this width.)
 */
import { Deferred, Effect, Exit } from "effect"
import { CircuitBreaker } from "../../src/index.js"
import { floor, inScope } from "../floor.js"
import type { Case } from "../harness.js"

export const FIBERS = 10_000
export const FloorFibers = `floor wrapper, ${FIBERS.toLocaleString("en-US")} concurrent fibers (per call)`

const call = Effect.yieldNow()
const breaker = inScope(CircuitBreaker.make({ name: "crowded", slidingWindowSize: 100, minimumNumberOfCalls: 100 }))
const CALLS = 10

const batchOf = (guarded: Effect.Effect<unknown, unknown>) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    let running = FIBERS
    const fiber = Effect.ensuring(
      Effect.gen(function*() {
        for (let i = 0; i < CALLS; i++) yield* Effect.exit(guarded)
      }),
      Effect.suspend(() => --running === 0 ? Deferred.succeed(done, undefined) : Effect.void)
    )
    for (let i = 0; i < FIBERS; i++) yield* Effect.fork(fiber)
    yield* Deferred.await(done)
  })

const batchCase = (name: string, guarded: Effect.Effect<unknown, unknown>, extra?: Partial<Case>): Case => ({
  ...extra,
  name,
  callsPerOp: FIBERS * CALLS,
  startOps: 1,
  run: async (ops) => {
    const batch = batchOf(guarded)
    const exit = await Effect.runPromiseExit(Effect.gen(function*() {
      for (let i = 0; i < ops; i++) yield* batch
    }))
    if (Exit.isFailure(exit)) throw new Error(`${name} crashed`)
  }
})

export const cases: ReadonlyArray<Case> = [
  batchCase(FloorFibers, floor(call)),
  batchCase(
    `breaker closed, ${FIBERS.toLocaleString("en-US")} concurrent fibers (per call)`,
    CircuitBreaker.withCircuitBreaker(call, breaker),
    { baseline: FloorFibers }
  )
]
