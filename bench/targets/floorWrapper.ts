/**
 * The floor: the cheapest wrapper any guard needs. Imports only `effect`, so it is compiled against
 * whichever Effect the build resolves (bench/floor.ts for the main table, guardCases.ts once per target).
 * Effect 4's peers keep their own copy (peers/effect4.ts), written against the `effect4` alias.
 */
import { type Cause, Effect } from "effect"

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

/**
 * The floor with the two clock reads a guard that times its calls makes (a circuit breaker: the call's
 * duration, for its slow-call rate and its duration histogram), read as Effect's default \`Clock\` reads
 * them on both majors (\`Date.now()\`). What a timed guard adds over this is its own logic; what this adds
 * over the floor is the machine's clock.
 */
export const timedFloor = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const start = Date.now()
    return Effect.matchCauseEffect(self, {
      onSuccess: (a) => {
        bookkeeping += Date.now() - start
        return Effect.succeed(a)
      },
      onFailure: (cause) => {
        bookkeeping -= Date.now() - start
        return Effect.failCause(cause)
      }
    })
  })

const counted = {
  onSuccess: (a: unknown) => {
    bookkeeping++
    return Effect.succeed(a)
  },
  onFailure: (cause: Cause.Cause<unknown>) => {
    bookkeeping--
    return Effect.failCause(cause)
  }
}

/**
 * The floor under \`uninterruptibleMask\`, the call restored to interruptible: the least a guard that holds
 * a permit across the call costs (a bulkhead), since only under a mask is a handler sure to run when the
 * call is interrupted. Built once per \`restore\`, as the bulkhead builds it.
 */
export const maskedFloor = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  let builtFor: unknown
  let built: Effect.Effect<unknown, unknown, R> | undefined
  return Effect.uninterruptibleMask((restore) => {
    bookkeeping++
    if (builtFor !== restore || built === undefined) {
      builtFor = restore
      built = Effect.matchCauseEffect(restore(self), counted)
    }
    // The handlers hand back what the call gave (`counted` is shared, so typed for any call).
    return built as Effect.Effect<A, E, R>
  })
}

/** Keeps the floor's bookkeeping observable so the JIT cannot drop it. */
export const floorBookkeeping = () => bookkeeping
