/**
 * The yardsticks every case is compared with, and the helpers that turn an effect or a Promise-returning
 * function into a case.
 */
import { Effect, Exit, Scope } from "effect"
import type { Case } from "./harness.js"
import { floor, maskedFloor, timedFloor } from "./targets/floorWrapper.js"

export { floor, floorBookkeeping } from "./targets/floorWrapper.js"

/** The names of the baselines, which the report divides by. */
export const Baseline = {
  succeed: "bare Effect.succeed",
  floor: "floor wrapper, success",
  floorFailure: "floor wrapper, failure",
  floorTimed: "floor wrapper with two clock reads (a timed call), success",
  floorMasked: "floor wrapper under uninterruptibleMask (a held permit), success",
  floorAsync: "floor wrapper, success (runPromise)",
  floorStack: "floor wrapper x4 (the least a 4-guard stack can cost)",
  await: "bare await of an async function"
} as const

/** A case that runs `op` `ops` times in one fiber (its exit is taken, so failures are fine). */
export const effectCase = (name: string, op: Effect.Effect<unknown, unknown>, extra?: Partial<Case>): Case => ({
  ...extra,
  name,
  run: (ops) => {
    const exit = Effect.runSyncExit(Effect.gen(function*() {
      for (let i = 0; i < ops; i++) yield* Effect.exit(op)
    }))
    if (Exit.isFailure(exit)) throw new Error(`${name} crashed`)
  }
})

/**
 * Like {@link effectCase}, run with `runPromise`: for an op that is asynchronous (a Promise peer through
 * `Effect.tryPromise`) or that needs other fibers to run beside it (event subscribers).
 */
export const asyncEffectCase = (name: string, op: Effect.Effect<unknown, unknown>, extra?: Partial<Case>): Case => ({
  ...extra,
  name,
  run: async (ops) => {
    const exit = await Effect.runPromiseExit(Effect.gen(function*() {
      for (let i = 0; i < ops; i++) yield* Effect.exit(op)
    }))
    if (Exit.isFailure(exit)) throw new Error(`${name} crashed`)
  }
})

/** A case that awaits `op()` `ops` times, as a Promise-based program does (rejections are fine). */
export const promiseCase = (name: string, op: () => Promise<unknown>, extra?: Partial<Case>): Case => ({
  ...(name === Baseline.await ? {} : { baseline: Baseline.await }),
  ...extra,
  name,
  run: async (ops) => {
    for (let i = 0; i < ops; i++) {
      try {
        await op()
      } catch {
        // a refusal or a failing call: part of what is measured
      }
    }
  }
})

const benchScope = Effect.runSync(Scope.make())
const teardowns: Array<() => void | Promise<void>> = []

/** Builds a guard in a scope that stays open for the whole run. */
export const inScope = <A>(make: Effect.Effect<A, unknown, Scope.Scope>): A =>
  Effect.runSync(Scope.extend(make, benchScope))

/** Registers what must be stopped at the end of the run (a peer's timers), so the process can exit. */
export const atTeardown = (stop: () => void | Promise<void>): void => {
  teardowns.push(stop)
}

/** Stops every peer's timers and closes the guards' scope. */
export const teardown = async (): Promise<void> => {
  for (const stop of teardowns.splice(0)) await stop()
  await Effect.runPromise(Scope.close(benchScope, Exit.void))
}

const one = async () => 1

const call = Effect.succeed(1)

/** The baselines, measured in the same run as every guard. */
export const baselines: ReadonlyArray<Case> = [
  effectCase(Baseline.succeed, call),
  effectCase(Baseline.floor, floor(call)),
  effectCase(Baseline.floorFailure, floor(Effect.fail("boom"))),
  effectCase(Baseline.floorTimed, timedFloor(call)),
  effectCase(Baseline.floorMasked, maskedFloor(call)),
  asyncEffectCase(Baseline.floorAsync, floor(call)),
  effectCase(Baseline.floorStack, floor(floor(floor(floor(call))))),
  promiseCase(Baseline.await, one)
]
