/**
 * Queues, subscriptions and streams whose names differ between Effect 3 and Effect 4 (Effect 3's
 * side; `../effect4/stream.ts` has the same names).
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import type * as SubscriptionRef from "effect/SubscriptionRef"

/** A queue whose reading stream ends when it is closed (Effect 3: `Queue<A>`; Effect 4: `Queue<A, Cause.Done>`). */
export type ClosableQueue<A> = Queue.Queue<A>

/** A sliding queue of `capacity` (Effect 3: `Queue.sliding<A>`; Effect 4: `Queue.sliding<A, Cause.Done>`). */
export const slidingQueue = <A>(capacity: number): Effect.Effect<ClosableQueue<A>> => Queue.sliding<A>(capacity)

/** Offers synchronously (Effect 3: `queue.unsafeOffer`; Effect 4: `Queue.offerUnsafe`). */
export const offerNow = <A>(queue: ClosableQueue<A>, value: A): boolean => queue.unsafeOffer(value)

/**
 * Closes `queue`, ending the stream that reads it and dropping what it still holds (Effect 3:
 * `Queue.shutdown`; Effect 4: `Queue.clear` then `Queue.end`, as a shutdown there interrupts the reader).
 */
export const closeQueue = <A>(queue: ClosableQueue<A>): Effect.Effect<void> => Queue.shutdown(queue)

/** The queue's messages until it is closed (`Stream.fromQueue` in both). */
export const queueStream = <A>(queue: ClosableQueue<A>): Stream.Stream<A> => Stream.fromQueue(queue)

/** A `SubscriptionRef`'s current value, then each change (Effect 3: its `changes` property; Effect 4: `SubscriptionRef.changes`). */
export const refChanges = <A>(ref: SubscriptionRef.SubscriptionRef<A>): Stream.Stream<A> => ref.changes
