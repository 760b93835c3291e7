/**
 * The floor: the cheapest wrapper any guard needs. Imports only `effect`, so it is compiled against
 * whichever Effect the build resolves (bench/floor.ts for the main table, guardCases.ts once per target).
 * Effect 4's peers keep their own copy (peers/effect4.ts), written against the `effect4` alias.
 */
import { Effect } from "effect"

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
