/**
 * Waiting for a slot of a {@link BulkheadCore}: what `Bulkhead` and `AdaptiveLimiter` share (both queue
 * callers in order on the same core, and differ only in what admission and refusal then do).
 *
 * @internal
 */
import { callback, forkChild, interruptNow, type RunningFiber } from "#port"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { Admitted, type BulkheadCore, Waiter, Waiting } from "../../core/bulkheadCore.js"

/** Wakes the waiters a release (or a larger limit) admitted. */
export const wake = (admitted: ReadonlyArray<Waiter>): void => {
  for (let i = 0; i < admitted.length; i++) admitted[i]!.wake?.()
}

/** The `restore` of `Effect.uninterruptibleMask`: makes its argument interruptible again. */
export type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

/**
 * Queues the caller (still masked, so the handler that removes it is in place before it can be
 * interrupted), waits interruptibly to be admitted, and then runs `admitted`, or `expired` when
 * `maxWaitMillis` passed first. Interrupted while waiting, it leaves the queue, or gives back the slot
 * it was just handed.
 */
export const waitForSlot = <A, E, R, E2>(
  core: BulkheadCore,
  clock: Clock.Clock,
  maxWaitMillis: number,
  restore: Restore,
  admitted: () => Effect.Effect<A, E, R>,
  expired: () => Effect.Effect<never, E2>
): Effect.Effect<A, E | E2, R> => {
  const waiter = new Waiter()
  core.enqueue(waiter)
  const admission = callback<void>((resume) => {
    if (waiter.status === Waiting) waiter.wake = () => resume(Effect.void)
    else resume(Effect.void)
  })
  const waited = (timer: RunningFiber<void> | undefined) =>
    Effect.matchCauseEffect(restore(admission), {
      onSuccess: (): Effect.Effect<A, E | E2, R> => {
        if (timer !== undefined) interruptNow(timer)
        return waiter.status === Admitted ? admitted() : expired()
      },
      onFailure: (cause) => {
        if (timer !== undefined) interruptNow(timer)
        wake(core.leave(waiter).admitted)
        return Effect.failCause(cause)
      }
    })
  if (!Number.isFinite(maxWaitMillis)) return waited(undefined)
  const expiry = Effect.interruptible(clock.sleep(Duration.millis(maxWaitMillis))).pipe(
    Effect.andThen(Effect.sync(() => {
      if (waiter.status === Waiting) {
        core.leave(waiter)
        waiter.wake?.()
      }
    }))
  )
  return Effect.flatMap(forkChild(expiry), waited)
}
