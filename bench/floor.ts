/**
 * The yardsticks every case is compared with, and the helper that turns an effect into a case.
 */
import { Effect, Exit, Scope } from "effect"
import type { Case } from "./harness.js"

let bookkeeping = 0

/** The floor: the cheapest wrapper any guard needs (suspend + matchCauseEffect, synchronous bookkeeping). */
export const floor = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
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

/** Keeps the floor's bookkeeping observable so the JIT cannot drop it. */
export const floorBookkeeping = () => bookkeeping

/** A case that runs `op` `ops` times in one fiber (its exit is taken, so failures are fine). */
export const effectCase = (name: string, op: Effect.Effect<unknown, unknown>): Case => ({
  name,
  run: (ops) => {
    const exit = Effect.runSyncExit(Effect.gen(function*() {
      for (let i = 0; i < ops; i++) yield* Effect.exit(op)
    }))
    if (Exit.isFailure(exit)) throw new Error(`${name} crashed`)
  }
})

const benchScope = Effect.runSync(Scope.make())

/** Builds a guard in a scope that stays open for the whole run. */
export const inScope = <A>(make: Effect.Effect<A, unknown, Scope.Scope>): A =>
  Effect.runSync(Scope.extend(make, benchScope))

/** The baselines, measured in the same run as every guard. */
export const baselines: ReadonlyArray<Case> = [
  effectCase("bare Effect.succeed", Effect.succeed(1)),
  effectCase("floor wrapper, success", floor(Effect.succeed(1))),
  effectCase("floor wrapper, failure", floor(Effect.fail("boom")))
]
