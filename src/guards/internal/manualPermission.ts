/**
 * Permissions for calls made outside an effect (callbacks, streams), as Resilience4j's
 * `acquirePermission` / `onSuccess` / `onError` / `releasePermission`, built on a guard's own wrapper
 * so that every rule of a guarded effect holds: the guard admits (or refuses) a stand-in call run in
 * its own fiber, and the permission's settlement completes that call. Timing, events, metrics, results
 * of an ended period being dropped and a half-open permit coming back when the call is released are
 * therefore the guard's, unchanged.
 *
 * @internal
 */
import { forkDetach } from "#port"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"

/** The settlement side of a permission; each method settles it at most once. */
export interface Settlement<A, E> {
  readonly succeed: (value: A) => Effect.Effect<boolean>
  readonly fail: (error: E) => Effect.Effect<boolean>
  readonly release: Effect.Effect<boolean>
  readonly settled: Effect.Effect<boolean>
}

/**
 * Asks `guard` to admit a call, waiting as the guard would (a bulkhead's queue); fails with the
 * guard's refusal. Interrupting the wait withdraws the request.
 */
export const acquire = <A, E, Refusal>(
  guard: (call: Effect.Effect<A, E>) => Effect.Effect<A, E | Refusal>
): Effect.Effect<Settlement<A, E>, Refusal> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const admitted = yield* Deferred.make<void>()
      const outcome = yield* Deferred.make<A, E>()
      const call = Effect.andThen(Deferred.succeed(admitted, undefined), Deferred.await(outcome))
      // A daemon: the permission outlives the fiber that took it (it is settled from a callback).
      // Interruptible, unlike this region, so that `release` can interrupt the stand-in call.
      const fiber = yield* forkDetach(Effect.interruptible(guard(call)))
      yield* restore(
        Effect.raceFirst(
          Deferred.await(admitted),
          // The stand-in call only ends before admission when the guard refused it.
          Effect.flatMap(Fiber.join(fiber), () => Effect.never) as Effect.Effect<never, Refusal>
        )
      ).pipe(Effect.onInterrupt(() => Fiber.interrupt(fiber)))
      let done = false
      const settle = (complete: Effect.Effect<unknown>): Effect.Effect<boolean> =>
        Effect.suspend(() => {
          if (done) return Effect.succeed(false)
          done = true
          // Waits until the guard has recorded the call, so what follows sees its effect.
          return Effect.as(Effect.andThen(complete, Fiber.await(fiber)), true)
        })
      return {
        succeed: (value) => settle(Deferred.succeed(outcome, value)),
        fail: (error) => settle(Deferred.fail(outcome, error)),
        release: settle(Fiber.interrupt(fiber)),
        settled: Effect.sync(() => done)
      } satisfies Settlement<A, E>
    })
  )
